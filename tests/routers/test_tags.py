from __future__ import annotations

from httpx import AsyncClient

from tests.conftest import auth

ALICE = auth("alice")
BOB = auth("bob")


async def test_tags_are_listed_with_their_node_counts(graph_client: AsyncClient) -> None:
    for tags in (["math", "cs"], ["math"], ["bio"], []):
        await graph_client.post("/v1/nodes", json={"title": "n", "tags": tags}, headers=ALICE)
    await graph_client.post("/v1/nodes", json={"title": "b", "tags": ["math", "x"]}, headers=BOB)

    response = await graph_client.get("/v1/tags", headers=ALICE)

    assert response.status_code == 200
    assert response.json() == {
        "items": [
            {"tag": "bio", "nodes": 1},
            {"tag": "cs", "nodes": 1},
            {"tag": "math", "nodes": 2},
        ],
        "next_cursor": None,
    }
    assert "link" not in response.headers


async def test_tags_paginate_with_link(graph_client: AsyncClient) -> None:
    names = ["a", "b", "c", "d", "e"]
    await graph_client.post("/v1/nodes", json={"title": "n", "tags": names}, headers=ALICE)

    seen: list[str] = []
    url: str | None = "/v1/tags?limit=2"
    while url is not None:
        response = await graph_client.get(url, headers=ALICE)
        seen += [item["tag"] for item in response.json()["items"]]
        link = response.headers.get("link")
        url = link.removeprefix("<").split(">;")[0] if link else None

    assert seen == names


async def test_a_user_without_nodes_has_no_tags(graph_client: AsyncClient) -> None:
    response = await graph_client.get("/v1/tags", headers=BOB)

    assert response.json() == {"items": [], "next_cursor": None}


async def test_tags_need_a_token(graph_client: AsyncClient) -> None:
    assert (await graph_client.get("/v1/tags")).status_code == 401

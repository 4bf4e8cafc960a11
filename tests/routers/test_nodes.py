from __future__ import annotations

import uuid
from typing import Any

import pytest
from httpx import AsyncClient

from tests.conftest import auth

ALICE = auth("alice")
BOB = auth("bob")
PROBLEM = "application/problem+json"


async def create_node(client: AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    body.setdefault("title", "A node")
    response = await client.post("/v1/nodes", json=body, headers=headers)
    assert response.status_code == 201, response.text
    node: dict[str, Any] = response.json()
    return node


async def test_create_node_returns_201_with_location_and_etag(graph_client: AsyncClient) -> None:
    response = await graph_client.post(
        "/v1/nodes",
        json={
            "title": "  Graph theory  ",
            "body": "Vertices and edges.",
            "tags": ["math", "math", "cs"],
        },
        headers=ALICE,
    )

    assert response.status_code == 201
    node = response.json()
    assert set(node) == {"id", "title", "body", "tags", "created_at", "updated_at"}
    assert node["title"] == "Graph theory"
    assert node["tags"] == ["math", "cs"]
    assert node["created_at"].endswith("Z") or node["created_at"].endswith("+00:00")
    assert response.headers["location"] == f"/v1/nodes/{node['id']}"
    assert response.headers["etag"].startswith('"')

    fetched = await graph_client.get(response.headers["location"], headers=ALICE)
    assert fetched.json() == node
    assert fetched.headers["etag"] == response.headers["etag"]


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"title": "x" * 201}, "#/title"),
        ({"title": "   "}, "#/title"),
        ({}, "#/title"),
        ({"title": "ok", "body": "b" * 20_001}, "#/body"),
        ({"title": "ok", "tags": [f"t{i}" for i in range(21)]}, "#/tags"),
        ({"title": "ok", "tags": ["x" * 51]}, "#/tags/0"),
        ({"title": "ok", "tags": ["fine", "bad\ntag"]}, "#/tags/1"),
        ({"title": "ok", "owner_id": "bob"}, "#/owner_id"),
        ({"title": 5}, "#/title"),
    ],
)
async def test_out_of_bounds_input_is_a_422_pointing_at_the_member(
    graph_client: AsyncClient, body: dict[str, Any], pointer: str
) -> None:
    response = await graph_client.post("/v1/nodes", json=body, headers=ALICE)

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert pointer in [error.get("pointer") for error in response.json()["errors"]]
    assert (await graph_client.get("/v1/nodes", headers=ALICE)).json()["items"] == []


async def test_pagination_walks_every_node_once_newest_first(graph_client: AsyncClient) -> None:
    created = [(await create_node(graph_client, ALICE, title=f"n{i}"))["id"] for i in range(5)]

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await graph_client.get("/v1/nodes", params=params, headers=ALICE)).json()
        seen.extend(item["id"] for item in page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == list(reversed(created))
    assert pages == 3


@pytest.mark.parametrize(
    ("params", "parameter"),
    [({"limit": 101}, "limit"), ({"limit": 0}, "limit"), ({"cursor": "not-a-cursor"}, "cursor")],
)
async def test_bad_page_parameters_are_422(
    graph_client: AsyncClient, params: dict[str, Any], parameter: str
) -> None:
    response = await graph_client.get("/v1/nodes", params=params, headers=ALICE)

    assert response.status_code == 422
    assert [error["parameter"] for error in response.json()["errors"]] == [parameter]


async def test_filter_by_tag_and_search_text(graph_client: AsyncClient) -> None:
    await create_node(graph_client, ALICE, title="Neural networks", tags=["ml"])
    await create_node(graph_client, ALICE, title="Graphs", body="NETWORK flows", tags=["math"])
    await create_node(graph_client, ALICE, title="100% literal", tags=["ml"])

    by_tag = (await graph_client.get("/v1/nodes", params={"tag": "ml"}, headers=ALICE)).json()
    by_text = (await graph_client.get("/v1/nodes", params={"q": "network"}, headers=ALICE)).json()
    both = (
        await graph_client.get("/v1/nodes", params={"q": "network", "tag": "ml"}, headers=ALICE)
    ).json()
    # Punctuation is not searchable (words are), and never a LIKE wildcard.
    literal = (await graph_client.get("/v1/nodes", params={"q": "100%"}, headers=ALICE)).json()
    wildcard = (await graph_client.get("/v1/nodes", params={"q": "_"}, headers=ALICE)).json()

    assert {n["title"] for n in by_tag["items"]} == {"Neural networks", "100% literal"}
    assert {n["title"] for n in by_text["items"]} == {"Neural networks", "Graphs"}
    assert [n["title"] for n in both["items"]] == ["Neural networks"]
    assert [n["title"] for n in literal["items"]] == ["100% literal"]
    assert wildcard["items"] == []


async def test_patch_changes_only_given_members_and_the_etag(graph_client: AsyncClient) -> None:
    node = await create_node(graph_client, ALICE, title="Old", body="keep", tags=["a"])
    before = await graph_client.get(f"/v1/nodes/{node['id']}", headers=ALICE)

    response = await graph_client.patch(
        f"/v1/nodes/{node['id']}", json={"title": "New", "tags": ["b", "a"]}, headers=ALICE
    )

    assert response.status_code == 200
    updated = response.json()
    assert (updated["title"], updated["body"], updated["tags"]) == ("New", "keep", ["b", "a"])
    assert updated["updated_at"] >= node["updated_at"]
    assert response.headers["etag"] != before.headers["etag"]


async def test_stale_if_match_is_a_412_and_changes_nothing(graph_client: AsyncClient) -> None:
    node = await create_node(graph_client, ALICE, title="v1")
    stale = (await graph_client.get(f"/v1/nodes/{node['id']}", headers=ALICE)).headers["etag"]
    current = (
        await graph_client.patch(f"/v1/nodes/{node['id']}", json={"title": "v2"}, headers=ALICE)
    ).headers["etag"]

    rejected = await graph_client.patch(
        f"/v1/nodes/{node['id']}", json={"title": "v3"}, headers={**ALICE, "If-Match": stale}
    )
    rejected_delete = await graph_client.delete(
        f"/v1/nodes/{node['id']}", headers={**ALICE, "If-Match": stale}
    )
    accepted = await graph_client.patch(
        f"/v1/nodes/{node['id']}", json={"title": "v3"}, headers={**ALICE, "If-Match": current}
    )

    assert rejected.status_code == rejected_delete.status_code == 412
    assert rejected.json()["type"] == "/problems/precondition-failed"
    assert accepted.status_code == 200
    assert accepted.json()["title"] == "v3"


async def test_if_none_match_gives_304_without_body(graph_client: AsyncClient) -> None:
    node = await create_node(graph_client, ALICE)
    tag = (await graph_client.get(f"/v1/nodes/{node['id']}", headers=ALICE)).headers["etag"]

    response = await graph_client.get(
        f"/v1/nodes/{node['id']}", headers={**ALICE, "If-None-Match": tag}
    )

    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == tag


async def test_null_is_not_a_value_in_patch_and_the_error_points_at_the_member(
    graph_client: AsyncClient,
) -> None:
    node = await create_node(graph_client, ALICE)

    response = await graph_client.patch(
        f"/v1/nodes/{node['id']}", json={"title": None, "tags": None}, headers=ALICE
    )

    assert response.status_code == 422
    errors = response.json()["errors"]
    assert sorted(error["pointer"] for error in errors) == ["#/tags", "#/title"]
    assert all("null" in error["detail"].lower() for error in errors)


async def test_patch_of_some_members_leaves_the_others(graph_client: AsyncClient) -> None:
    node = await create_node(graph_client, ALICE)

    response = await graph_client.patch(
        f"/v1/nodes/{node['id']}", json={"body": "new"}, headers=ALICE
    )

    assert response.status_code == 200
    assert (response.json()["title"], response.json()["body"]) == (node["title"], "new")


async def test_delete_node_removes_it_and_its_edges(graph_client: AsyncClient) -> None:
    a = await create_node(graph_client, ALICE, title="a")
    b = await create_node(graph_client, ALICE, title="b")
    edge = (
        await graph_client.post(
            "/v1/edges",
            json={"source_id": a["id"], "target_id": b["id"], "relation": "links"},
            headers=ALICE,
        )
    ).json()

    response = await graph_client.delete(f"/v1/nodes/{a['id']}", headers=ALICE)

    assert response.status_code == 204
    assert response.content == b""
    assert (await graph_client.get(f"/v1/nodes/{a['id']}", headers=ALICE)).status_code == 404
    assert (await graph_client.get(f"/v1/edges/{edge['id']}", headers=ALICE)).status_code == 404
    b_edges = (await graph_client.get(f"/v1/nodes/{b['id']}/edges", headers=ALICE)).json()
    assert b_edges["items"] == []


async def test_invalid_node_id_is_a_422_naming_the_parameter(graph_client: AsyncClient) -> None:
    response = await graph_client.get("/v1/nodes/not-a-uuid", headers=ALICE)

    assert response.status_code == 422
    assert response.json()["errors"][0]["parameter"] == "node_id"


async def test_another_users_node_is_a_404_on_every_route(graph_client: AsyncClient) -> None:
    node = await create_node(graph_client, ALICE, title="private", tags=["secret"])
    other = await create_node(graph_client, ALICE, title="other")
    path = f"/v1/nodes/{node['id']}"

    attempts = [
        await graph_client.get(path, headers=BOB),
        await graph_client.patch(path, json={"title": "pwned"}, headers=BOB),
        await graph_client.delete(path, headers=BOB),
        await graph_client.get(f"{path}/edges", headers=BOB),
        await graph_client.get(f"{path}/neighbours", headers=BOB),
    ]
    listing = (await graph_client.get("/v1/nodes", params={"tag": "secret"}, headers=BOB)).json()
    edge = await graph_client.post(
        "/v1/edges",
        json={"source_id": node["id"], "target_id": other["id"], "relation": "x"},
        headers=BOB,
    )

    assert [response.status_code for response in attempts] == [404] * 5
    assert all(response.json()["type"] == "/problems/not-found" for response in attempts)
    assert listing["items"] == []
    assert edge.status_code == 404
    assert (await graph_client.get(path, headers=ALICE)).json()["title"] == "private"


async def test_a_node_that_never_existed_is_the_same_404(graph_client: AsyncClient) -> None:
    mine = await create_node(graph_client, ALICE)

    missing = await graph_client.get(f"/v1/nodes/{uuid.uuid4()}", headers=BOB)
    foreign = await graph_client.get(f"/v1/nodes/{mine['id']}", headers=BOB)

    assert missing.status_code == foreign.status_code == 404
    assert missing.json()["detail"] == foreign.json()["detail"]


async def test_a_repeated_query_parameter_is_a_422(graph_client: AsyncClient) -> None:
    response = await graph_client.get("/v1/nodes?q=a&q=b&limit=5", headers=ALICE)

    assert response.status_code == 422
    assert response.json()["errors"] == [{"detail": "Give this parameter once.", "parameter": "q"}]


async def test_self_loops_are_allowed(graph_client: AsyncClient) -> None:
    node = await create_node(graph_client, ALICE)

    response = await graph_client.post(
        "/v1/edges",
        json={"source_id": node["id"], "target_id": node["id"], "relation": "refines"},
        headers=ALICE,
    )

    assert response.status_code == 201


@pytest.mark.parametrize(
    ("method", "path_suffix", "body", "params"),
    [
        ("POST", "", {"title": "a\u0000b"}, None),
        ("POST", "", {"title": "ok", "body": "nul \u0000 inside"}, None),
        ("GET", "", None, {"q": "a\u0000b"}),
    ],
)
async def test_control_characters_are_a_422_on_every_backend(
    graph_client: AsyncClient,
    method: str,
    path_suffix: str,
    body: dict[str, Any] | None,
    params: dict[str, Any] | None,
) -> None:
    response = await graph_client.request(
        method, f"/v1/nodes{path_suffix}", json=body, params=params, headers=ALICE
    )

    assert response.status_code == 422


async def test_body_keeps_tabs_and_line_breaks(graph_client: AsyncClient) -> None:
    node = await create_node(graph_client, ALICE, body="line one\n\tline two\r\n")

    assert node["body"] == "line one\n\tline two\r\n"


async def test_search_folds_case_beyond_ascii(graph_client: AsyncClient) -> None:
    await create_node(graph_client, ALICE, title="Ärger im Büro")
    await create_node(graph_client, ALICE, title="ΣΟΦΊΑ")

    umlaut = (await graph_client.get("/v1/nodes", params={"q": "ärger"}, headers=ALICE)).json()
    greek = (await graph_client.get("/v1/nodes", params={"q": "σοφία"}, headers=ALICE)).json()

    assert [n["title"] for n in umlaut["items"]] == ["Ärger im Büro"]
    assert [n["title"] for n in greek["items"]] == ["ΣΟΦΊΑ"]


async def test_delete_with_the_current_etag_succeeds(graph_client: AsyncClient) -> None:
    node = await create_node(graph_client, ALICE)
    tag = (await graph_client.get(f"/v1/nodes/{node['id']}", headers=ALICE)).headers["etag"]

    response = await graph_client.delete(
        f"/v1/nodes/{node['id']}", headers={**ALICE, "If-Match": tag}
    )

    assert response.status_code == 204


@pytest.mark.parametrize("header", ["*", 'W/"{tag}"', '"other", "{tag}"'])
async def test_if_none_match_forms(graph_client: AsyncClient, header: str) -> None:
    node = await create_node(graph_client, ALICE)
    tag = (await graph_client.get(f"/v1/nodes/{node['id']}", headers=ALICE)).headers["etag"]

    response = await graph_client.get(
        f"/v1/nodes/{node['id']}",
        headers={**ALICE, "If-None-Match": header.format(tag=tag.strip('"'))},
    )

    assert response.status_code == 304


async def test_patch_moves_updated_at_forward(graph_client: AsyncClient) -> None:
    from datetime import datetime

    node = await create_node(graph_client, ALICE, title="v1")

    updated = (
        await graph_client.patch(f"/v1/nodes/{node['id']}", json={"title": "v2"}, headers=ALICE)
    ).json()

    assert datetime.fromisoformat(updated["updated_at"]) > datetime.fromisoformat(
        node["updated_at"]
    )
    assert updated["created_at"] == node["created_at"]


async def test_search_and_edges_never_cross_users(graph_client: AsyncClient) -> None:
    alices = await create_node(graph_client, ALICE, title="private diary")
    bobs = await create_node(graph_client, BOB, title="bob's node")

    search = (await graph_client.get("/v1/nodes", params={"q": "private"}, headers=BOB)).json()
    mixed = await graph_client.post(
        "/v1/edges",
        json={"source_id": bobs["id"], "target_id": alices["id"], "relation": "spy"},
        headers=BOB,
    )

    assert search["items"] == []
    assert mixed.status_code == 404
    assert mixed.json()["errors"] == [
        {"detail": "There is no node with this id.", "pointer": "#/target_id"}
    ]


async def test_a_failed_commit_is_a_503_and_stores_nothing(
    graph_client: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.ext.asyncio import AsyncSession

    async def commit_fails(self: AsyncSession) -> None:
        raise OperationalError("COMMIT", {}, ConnectionResetError("connection lost"))

    monkeypatch.setattr(AsyncSession, "commit", commit_fails)
    response = await graph_client.post("/v1/nodes", json={"title": "lost"}, headers=ALICE)
    monkeypatch.undo()

    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert (await graph_client.get("/v1/nodes", headers=ALICE)).json()["items"] == []

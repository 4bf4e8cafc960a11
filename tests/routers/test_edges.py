from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tests.conftest import auth
from tests.routers.test_nodes import create_node

ALICE = auth("alice")
BOB = auth("bob")


async def two_nodes(client: AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    return await create_node(client, ALICE, title="a"), await create_node(client, ALICE, title="b")


async def test_create_edge_returns_201_with_location(graph_client: AsyncClient) -> None:
    a, b = await two_nodes(graph_client)

    response = await graph_client.post(
        "/v1/edges",
        json={"source_id": a["id"], "target_id": b["id"], "relation": "cites", "weight": 0.5},
        headers=ALICE,
    )

    assert response.status_code == 201
    edge = response.json()
    assert set(edge) == {"id", "source_id", "target_id", "relation", "weight"}
    assert (edge["source_id"], edge["target_id"], edge["relation"], edge["weight"]) == (
        a["id"],
        b["id"],
        "cites",
        0.5,
    )
    assert response.headers["location"] == f"/v1/edges/{edge['id']}"
    assert (await graph_client.get(response.headers["location"], headers=ALICE)).json() == edge


async def test_duplicate_edge_is_a_409_naming_the_existing_one(graph_client: AsyncClient) -> None:
    a, b = await two_nodes(graph_client)
    body = {"source_id": a["id"], "target_id": b["id"], "relation": "cites"}
    first = (await graph_client.post("/v1/edges", json=body, headers=ALICE)).json()

    response = await graph_client.post("/v1/edges", json=body, headers=ALICE)
    other_relation = await graph_client.post(
        "/v1/edges", json={**body, "relation": "extends"}, headers=ALICE
    )

    assert response.status_code == 409
    assert response.json()["type"] == "/problems/conflict"
    assert response.json()["existing_id"] == first["id"]
    assert other_relation.status_code == 201


async def test_edge_to_a_missing_node_is_a_404_pointing_at_it(graph_client: AsyncClient) -> None:
    a, _ = await two_nodes(graph_client)

    response = await graph_client.post(
        "/v1/edges",
        json={
            "source_id": a["id"],
            "target_id": "00000000-0000-4000-8000-000000000000",
            "relation": "x",
        },
        headers=ALICE,
    )

    assert response.status_code == 404
    assert response.json()["type"] == "/problems/not-found"
    assert response.json()["errors"] == [
        {"detail": "There is no node with this id.", "pointer": "#/target_id"}
    ]


@pytest.mark.parametrize(
    "change",
    [
        ({"relation": ""}, "#/relation"),
        ({"relation": "r" * 65}, "#/relation"),
        ({"weight": -1}, "#/weight"),
        ({"weight": "NaN"}, "#/weight"),
        ({"extra": 1}, "#/extra"),
    ],
)
async def test_invalid_edges_are_422(
    graph_client: AsyncClient, change: tuple[dict[str, Any], str]
) -> None:
    fields, pointer = change
    a, b = await two_nodes(graph_client)
    body: dict[str, Any] = {"source_id": a["id"], "target_id": b["id"], "relation": "r"}
    body.update(fields)

    response = await graph_client.post("/v1/edges", json=body, headers=ALICE)

    assert response.status_code == 422
    assert response.json()["type"] == "/problems/validation-error"
    assert [error["pointer"] for error in response.json()["errors"]] == [pointer]


async def test_node_edges_by_direction_and_neighbours(graph_client: AsyncClient) -> None:
    a, b = await two_nodes(graph_client)
    c = await create_node(graph_client, ALICE, title="c")
    for source, target, weight in ((a, b, 0.2), (c, a, 0.9)):
        await graph_client.post(
            "/v1/edges",
            json={
                "source_id": source["id"],
                "target_id": target["id"],
                "relation": "r",
                "weight": weight,
            },
            headers=ALICE,
        )

    def targets(page: dict[str, Any]) -> list[tuple[str, str]]:
        return [(edge["source_id"], edge["target_id"]) for edge in page["items"]]

    out = (await graph_client.get(f"/v1/nodes/{a['id']}/edges?direction=out", headers=ALICE)).json()
    into = (await graph_client.get(f"/v1/nodes/{a['id']}/edges?direction=in", headers=ALICE)).json()
    both = (await graph_client.get(f"/v1/nodes/{a['id']}/edges", headers=ALICE)).json()
    neighbours = (await graph_client.get(f"/v1/nodes/{a['id']}/neighbours", headers=ALICE)).json()

    assert targets(out) == [(a["id"], b["id"])]
    assert targets(into) == [(c["id"], a["id"])]
    assert len(both["items"]) == 2
    assert isinstance(neighbours, list), neighbours
    assert [(n["node"]["title"], n["direction"]) for n in neighbours] == [("c", "in"), ("b", "out")]


async def test_delete_edge_then_it_is_gone(graph_client: AsyncClient) -> None:
    a, b = await two_nodes(graph_client)
    edge = (
        await graph_client.post(
            "/v1/edges",
            json={"source_id": a["id"], "target_id": b["id"], "relation": "r"},
            headers=ALICE,
        )
    ).json()

    foreign = await graph_client.delete(f"/v1/edges/{edge['id']}", headers=BOB)
    foreign_get = await graph_client.get(f"/v1/edges/{edge['id']}", headers=BOB)
    deleted = await graph_client.delete(f"/v1/edges/{edge['id']}", headers=ALICE)
    again = await graph_client.delete(f"/v1/edges/{edge['id']}", headers=ALICE)

    assert foreign.status_code == foreign_get.status_code == 404
    assert deleted.status_code == 204
    assert again.status_code == 404
    assert (await graph_client.get(f"/v1/nodes/{a['id']}", headers=ALICE)).status_code == 200


async def test_node_edges_paginate_with_cursors(graph_client: AsyncClient) -> None:
    hub = await create_node(graph_client, ALICE, title="hub")
    created = []
    for i in range(5):
        spoke = await create_node(graph_client, ALICE, title=f"s{i}")
        edge = await graph_client.post(
            "/v1/edges",
            json={"source_id": hub["id"], "target_id": spoke["id"], "relation": "r"},
            headers=ALICE,
        )
        created.append(edge.json()["id"])

    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = (
            await graph_client.get(f"/v1/nodes/{hub['id']}/edges", params=params, headers=ALICE)
        ).json()
        seen.extend(edge["id"] for edge in page["items"])
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    neighbours = (
        await graph_client.get(f"/v1/nodes/{hub['id']}/neighbours?limit=3", headers=ALICE)
    ).json()

    assert seen == list(reversed(created))
    assert len(neighbours) == 3

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tests.conftest import auth

ALICE = auth("alice")
BOB = auth("bob")
PROBLEM = "application/problem+json"


async def make_edge(client: AsyncClient, relation: str = "cites") -> tuple[dict[str, Any], str]:
    a = (await client.post("/v1/nodes", json={"title": "A"}, headers=ALICE)).json()
    b = (await client.post("/v1/nodes", json={"title": "B"}, headers=ALICE)).json()
    response = await client.post(
        "/v1/edges",
        json={"source_id": a["id"], "target_id": b["id"], "relation": relation},
        headers=ALICE,
    )
    assert response.status_code == 201, response.text
    return response.json(), response.headers["etag"]


async def test_patch_changes_relation_and_weight_and_the_etag(graph_client: AsyncClient) -> None:
    edge, tag = await make_edge(graph_client)

    response = await graph_client.patch(
        f"/v1/edges/{edge['id']}",
        json={"relation": "refutes", "weight": 2.5},
        headers={**ALICE, "If-Match": tag},
    )

    assert response.status_code == 200, response.text
    assert response.json() == {**edge, "relation": "refutes", "weight": 2.5}
    assert response.headers["etag"] != tag
    fetched = await graph_client.get(f"/v1/edges/{edge['id']}", headers=ALICE)
    assert fetched.json() == response.json()
    assert fetched.headers["etag"] == response.headers["etag"]


async def test_patch_with_only_weight_keeps_the_relation(graph_client: AsyncClient) -> None:
    edge, _ = await make_edge(graph_client)

    response = await graph_client.patch(
        f"/v1/edges/{edge['id']}", json={"weight": 0}, headers=ALICE
    )

    assert response.json() == {**edge, "weight": 0.0}


async def test_patch_with_a_stale_etag_is_a_412(graph_client: AsyncClient) -> None:
    edge, tag = await make_edge(graph_client)
    await graph_client.patch(f"/v1/edges/{edge['id']}", json={"weight": 3}, headers=ALICE)

    response = await graph_client.patch(
        f"/v1/edges/{edge['id']}", json={"weight": 4}, headers={**ALICE, "If-Match": tag}
    )

    assert response.status_code == 412
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "/problems/precondition-failed"
    assert (await graph_client.get(f"/v1/edges/{edge['id']}", headers=ALICE)).json()["weight"] == 3


async def test_patch_to_an_existing_relation_is_a_409(graph_client: AsyncClient) -> None:
    edge, _ = await make_edge(graph_client)
    other = await graph_client.post(
        "/v1/edges",
        json={"source_id": edge["source_id"], "target_id": edge["target_id"], "relation": "x"},
        headers=ALICE,
    )

    response = await graph_client.patch(
        f"/v1/edges/{edge['id']}", json={"relation": "x"}, headers=ALICE
    )

    assert response.status_code == 409
    assert response.json()["existing_id"] == other.json()["id"]


async def test_patch_of_another_users_edge_is_a_404(graph_client: AsyncClient) -> None:
    edge, _ = await make_edge(graph_client)

    response = await graph_client.patch(f"/v1/edges/{edge['id']}", json={"weight": 9}, headers=BOB)

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"relation": None}, "#/relation"),
        ({"weight": None}, "#/weight"),
        ({"weight": -1}, "#/weight"),
        ({"relation": "bad\nrelation"}, "#/relation"),
        ({"source_id": "00000000-0000-4000-8000-000000000000"}, "#/source_id"),
    ],
)
async def test_invalid_patches_are_422_pointing_at_the_member(
    graph_client: AsyncClient, body: dict[str, Any], pointer: str
) -> None:
    edge, _ = await make_edge(graph_client)

    response = await graph_client.patch(f"/v1/edges/{edge['id']}", json=body, headers=ALICE)

    assert response.status_code == 422
    assert [error["pointer"] for error in response.json()["errors"]] == [pointer]

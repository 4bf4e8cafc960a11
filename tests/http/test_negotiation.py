from __future__ import annotations

import pytest
from httpx import AsyncClient

from app.http.negotiation import accepts_json, is_json_media_type
from tests.conftest import auth

PROBLEM = "application/problem+json"
ALICE = auth("alice")
NO_NODE = "/v1/nodes/00000000-0000-0000-0000-000000000000"


@pytest.mark.parametrize(
    ("accept", "admitted"),
    [
        ("application/json", True),
        ("application/problem+json", True),
        ("*/*", True),
        ("application/*", True),
        ("", True),
        ("text/html, application/xhtml+xml, */*;q=0.8", True),
        ("application/xml", False),
        ("text/html", False),
        ("application/json;q=0", False),
        ("application/json;q=0, application/*;q=0", False),
        ("text/*, application/json;q=0.1", True),
        ("application/JSON; charset=utf-8", True),
    ],
)
def test_accepts_json(accept: str, admitted: bool) -> None:
    assert accepts_json(accept) is admitted


@pytest.mark.parametrize(
    ("content_type", "is_json"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("application/merge-patch+json", True),
        ("text/plain", False),
        ("application/x-www-form-urlencoded", False),
        (None, False),
    ],
)
def test_is_json_media_type(content_type: str | None, is_json: bool) -> None:
    assert is_json_media_type(content_type) is is_json


async def test_a_post_body_that_is_not_json_is_a_415_problem_with_accept_post(
    client: AsyncClient,
) -> None:
    response = await client.post(
        "/v1/nodes", content=b'{"title": "x"}', headers={**ALICE, "Content-Type": "text/plain"}
    )

    assert response.status_code == 415
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["accept-post"] == "application/json"
    assert response.json()["type"] == "/problems/unsupported-media-type"


async def test_a_patch_body_that_is_not_json_is_a_415_problem_with_accept_patch(
    client: AsyncClient,
) -> None:
    node = (await client.post("/v1/nodes", json={"title": "x"}, headers=ALICE)).json()

    response = await client.patch(
        f"/v1/nodes/{node['id']}",
        content=b"title=y",
        headers={**ALICE, "Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 415
    assert response.headers["accept-patch"] == "application/json"
    assert "accept-post" not in response.headers
    assert (await client.get(f"/v1/nodes/{node['id']}", headers=ALICE)).json()["title"] == "x"


async def test_a_json_body_without_content_type_is_a_415_problem(client: AsyncClient) -> None:
    response = await client.post("/v1/edges", content=b"{}", headers=ALICE)

    assert response.status_code == 415
    assert response.headers["accept-post"] == "application/json"


async def test_json_with_charset_or_a_json_suffix_is_read(client: AsyncClient) -> None:
    response = await client.post(
        "/v1/nodes",
        content=b'{"title": "x"}',
        headers={**ALICE, "Content-Type": "application/json; charset=utf-8"},
    )

    assert response.status_code == 201


async def test_an_accept_without_json_is_a_406_problem_sent_as_problem_json(
    client: AsyncClient,
) -> None:
    for method, path in [("GET", "/v1/nodes"), ("GET", NO_NODE), ("GET", "/healthz")]:
        response = await client.request(
            method, path, headers={**ALICE, "Accept": "application/xml"}
        )

        assert response.status_code == 406, path
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["type"] == "/problems/not-acceptable"


async def test_a_406_comes_before_the_operation_runs(client: AsyncClient) -> None:
    response = await client.post(
        "/v1/nodes", json={"title": "never"}, headers={**ALICE, "Accept": "text/csv"}
    )

    assert response.status_code == 406
    assert (await client.get("/v1/nodes", headers=ALICE)).json()["items"] == []


async def test_accept_of_json_problem_json_or_wildcards_is_served(client: AsyncClient) -> None:
    for accept in ("application/json", "application/problem+json", "*/*", "application/*"):
        response = await client.get("/v1/nodes", headers={**ALICE, "Accept": accept})

        assert response.status_code == 200, accept


async def test_problem_type_pages_still_negotiate_html(client: AsyncClient) -> None:
    response = await client.get("/problems/not-found", headers={"Accept": "text/html"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from asgi_lifespan import LifespanManager
from httpx import AsyncClient

from app.main import create_app
from tests.conftest import ClientFactory, SettingsFactory, auth, http_scope

PROBLEM = "application/problem+json"
ALICE = auth("alice")


def _token_header() -> tuple[bytes, bytes]:
    return (b"authorization", ALICE["Authorization"].encode())


async def test_a_declared_length_over_the_limit_is_a_413_problem_before_reading(
    settings_factory: SettingsFactory,
) -> None:
    app = create_app(settings_factory())  # the default limit, 1 MiB
    reads = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"{" * 65536, "more_body": True}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(30 * 1024 * 1024).encode()),
        _token_header(),
    ]
    async with LifespanManager(app):
        await app(http_scope("POST", "/v1/nodes", headers), receive, send)

    start, body = sent[0], b"".join(m.get("body", b"") for m in sent[1:])
    assert start["status"] == 413
    assert (b"content-type", PROBLEM.encode()) in start["headers"]
    assert b'"type":"/problems/payload-too-large"' in body
    assert b'"max_bytes":1048576' in body
    assert reads == 0


async def test_a_chunked_body_is_cut_off_at_the_limit(settings_factory: SettingsFactory) -> None:
    app = create_app(settings_factory(max_request_body_bytes=64 * 1024))
    chunk = b" " * 4096
    reads = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        # An endless chunked body: only a limit that counts while reading stops it.
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    headers = [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")]
    async with LifespanManager(app):
        await app(http_scope("POST", "/v1/nodes", [*headers, _token_header()]), receive, send)

    assert sent[0]["status"] == 413
    assert (b"content-type", PROBLEM.encode()) in sent[0]["headers"]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    assert b'"type":"/problems/payload-too-large"' in body
    assert b'"max_bytes":65536' in body
    assert reads == 64 * 1024 // len(chunk) + 1  # read up to the first byte over, no further


async def test_a_route_that_never_reads_its_body_does_not_run_for_an_oversized_one(
    client_factory: ClientFactory,
) -> None:
    client = await client_factory(max_request_body_bytes=2048)
    node = (await client.post("/v1/nodes", json={"title": "kept"}, headers=ALICE)).json()

    response = await client.request(
        "DELETE", f"/v1/nodes/{node['id']}", content=b"x" * 4096, headers=ALICE
    )

    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert (await client.get(f"/v1/nodes/{node['id']}", headers=ALICE)).status_code == 200


async def test_every_route_refuses_a_body_over_the_limit(client: AsyncClient) -> None:
    body = b'{"title": "' + b"x" * (1024 * 1024) + b'"}'
    for method, path in [
        ("POST", "/v1/nodes"),
        ("POST", "/v1/edges"),
        ("PATCH", "/v1/nodes/00000000-0000-0000-0000-000000000000"),
        ("POST", "/v1/ai/lightweight-analyze"),
        ("GET", "/healthz"),
        ("POST", "/nowhere"),
    ]:
        response = await client.request(
            method, path, content=body, headers={**ALICE, "Content-Type": "application/json"}
        )

        assert response.status_code == 413, (method, path)
        problem = response.json()
        assert problem["type"] == "/problems/payload-too-large"
        assert problem["max_bytes"] == 1024 * 1024
        assert problem["correlation_id"] == response.headers["x-request-id"]


async def test_a_body_within_the_limit_is_served(client_factory: ClientFactory) -> None:
    client = await client_factory(max_request_body_bytes=2048)

    response = await client.post(
        "/v1/nodes", json={"title": "t", "body": "b" * 1500}, headers=ALICE
    )

    assert response.status_code == 201

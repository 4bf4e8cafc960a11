from __future__ import annotations

import asyncio
import re

import pytest
from httpx import AsyncClient

from tests.conftest import ClientFactory, LogReader
from tests.core.test_context import HOSTILE_IDS

FRESH_ID = re.compile(r"[0-9a-f]{32}")


async def test_valid_request_id_is_echoed(client: AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "edge-req-0001"})

    assert response.headers["x-request-id"] == "edge-req-0001"


async def test_correlation_id_alias_is_accepted(client: AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Correlation-ID": "corr:abc-12345"})

    assert response.headers["x-request-id"] == "corr:abc-12345"


async def test_request_id_wins_over_the_alias(client: AsyncClient) -> None:
    response = await client.get(
        "/healthz", headers={"X-Request-ID": "first-123", "X-Correlation-ID": "second-123"}
    )

    assert response.headers["x-request-id"] == "first-123"


async def test_missing_id_gets_a_fresh_one(client: AsyncClient) -> None:
    first = await client.get("/healthz")
    second = await client.get("/healthz")

    assert FRESH_ID.fullmatch(first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.parametrize("value", [v for v in HOSTILE_IDS if v])
async def test_hostile_request_id_is_replaced_and_never_echoed_or_logged(
    client: AsyncClient, logs: LogReader, value: str
) -> None:
    raw = value.encode("utf-8")
    response = await client.get("/does-not-exist", headers=[(b"X-Request-ID", raw)])

    assert FRESH_ID.fullmatch(response.headers["x-request-id"])
    assert response.json()["correlation_id"] == response.headers["x-request-id"]
    logs.read()
    assert value not in logs.text
    assert value.encode("unicode_escape").decode() not in logs.text
    (access,) = logs.events("http.request")
    assert access["correlation_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("path", "method", "status"),
    [
        ("/healthz", "GET", 200),
        ("/nowhere", "GET", 404),
        ("/healthz", "DELETE", 405),
        ("/test/items/x", "GET", 422),
        ("/test/boom", "GET", 500),
        ("/test/mw-crash", "GET", 500),
    ],
)
async def test_every_response_carries_the_request_id(
    error_routes_client: ClientFactory, path: str, method: str, status: int
) -> None:
    client = await error_routes_client()

    response = await client.request(method, path, headers={"X-Request-ID": "trace-me-1234"})

    assert response.status_code == status
    assert response.headers["x-request-id"] == "trace-me-1234"


async def test_context_is_reachable_from_scope_state(error_routes_client: ClientFactory) -> None:
    client = await error_routes_client()

    response = await client.get("/test/context-from-state", headers={"X-Request-ID": "state-123"})

    assert response.json() == {"same": True, "correlation_id": "state-123"}


async def test_user_set_by_a_sync_dependency_is_seen_by_the_route(
    error_routes_client: ClientFactory,
) -> None:
    client = await error_routes_client()

    response = await client.get("/test/items/1", headers={"X-Test-User": "alice"})

    assert response.json()["user_id"] == "alice"


async def test_context_does_not_bleed_between_sequential_requests(
    error_routes_client: ClientFactory, logs: LogReader
) -> None:
    client = await error_routes_client()

    first = await client.get("/test/items/1", headers={"X-Test-User": "alice"})
    second = await client.get("/test/items/2")

    assert first.json()["user_id"] == "alice"
    assert second.json()["user_id"] is None
    assert second.json()["correlation_id"] != first.json()["correlation_id"]
    lines = logs.events("item.read")
    assert [line["user_id"] for line in lines] == ["alice", None]


async def test_context_does_not_bleed_between_100_concurrent_requests(
    error_routes_client: ClientFactory, logs: LogReader
) -> None:
    client = await error_routes_client()

    async def call(n: int) -> tuple[str, object, object]:
        headers = {"X-Request-ID": f"concurrent-{n:04d}"}
        if n % 2:
            headers["X-Test-User"] = f"user-{n}"
        response = await client.get(f"/test/items/{n}", headers=headers)
        body = response.json()
        return response.headers["x-request-id"], body["correlation_id"], body["user_id"]

    results = await asyncio.gather(*(call(n) for n in range(100)))

    for n, (header, correlation_id, user_id) in enumerate(results):
        assert header == correlation_id == f"concurrent-{n:04d}"
        assert user_id == (f"user-{n}" if n % 2 else None)
    for line in logs.events("item.read"):
        n = line["item_id"]
        assert line["correlation_id"] == f"concurrent-{n:04d}"
        assert line["user_id"] == (f"user-{n}" if n % 2 else None)

from __future__ import annotations

from typing import Any

import pytest
import sentry_sdk
from sqlalchemy.exc import OperationalError

from app.core.config import Settings
from app.repositories.graph import NodeRepository
from tests.conftest import ClientFactory, LogReader, auth
from tests.core.test_sentry import sentry_on
from tests.local_http import SentryIngest

ALICE = auth("alice")
# The tokens from `auth()` are signed with the development secret.
AS_DEVELOPMENT: dict[str, Any] = {
    "environment": "development",
    "jwt_secret": Settings(_env_file=None).jwt_secret,
}


async def test_a_requests_audit_lines_carry_its_correlation_and_user_id(
    client_factory: ClientFactory, logs: LogReader
) -> None:
    client = await client_factory()

    response = await client.post(
        "/v1/nodes", json={"title": "t"}, headers={**ALICE, "X-Request-ID": "audit-http-01"}
    )

    assert response.status_code == 201
    audit = [line for line in logs.read() if line["event"].startswith("audit.")]
    assert [(line["event"], line["service"], line["method"]) for line in audit] == [
        ("audit.call", "NodeService", "create"),
        ("audit.success", "NodeService", "create"),
    ]
    assert {(line["correlation_id"], line["user_id"]) for line in audit} == {
        ("audit-http-01", "alice")
    }
    (access,) = logs.events("http.request")
    assert access["route"] == "/v1/nodes"
    assert access["user_id"] == "alice"


async def test_node_transaction_shows_the_service_span_and_its_queries(
    client_factory: ClientFactory, sentry_ingest: SentryIngest
) -> None:
    client = await client_factory(**sentry_on(sentry_ingest, **AS_DEVELOPMENT))
    node = (await client.post("/v1/nodes", json={"title": "t"}, headers=ALICE)).json()

    await client.get(f"/v1/nodes/{node['id']}", headers=ALICE)
    sentry_sdk.flush()

    by_name = {
        (tx["transaction"], tx["request"]["method"]): tx for tx in sentry_ingest.transactions
    }
    transaction = by_name[("/v1/nodes/{node_id}", "GET")]
    assert transaction["user"]["id"] == "alice"
    spans = transaction["spans"]
    (service,) = [span for span in spans if span["op"] == "service.call"]
    assert service["description"] == "NodeService.get"
    queries = [span for span in spans if span["op"] == "db"]
    assert queries
    assert any(query["parent_span_id"] == service["span_id"] for query in queries)
    assert any("FROM nodes" in query["description"] for query in queries)


async def test_unreachable_database_is_a_503_reported_once(
    client_factory: ClientFactory, sentry_ingest: SentryIngest
) -> None:
    client = await client_factory(
        **sentry_on(sentry_ingest, **AS_DEVELOPMENT),
        database_url="postgresql+asyncpg://nobody:db-pw-9@127.0.0.1:9/db",
        database_auto_migrate=False,
        database_timeout_seconds=2,
    )

    response = await client.post("/v1/nodes", json={"title": "t"}, headers=ALICE)
    sentry_sdk.flush()

    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    body = response.json()
    assert body["type"] == "/problems/service-unavailable"
    assert "db-pw-9" not in response.text
    (event,) = sentry_ingest.events
    assert event["event_id"] == body["event_id"]
    assert {value["type"] for value in event["exception"]["values"]} >= {"ServiceUnavailable"}


async def test_an_outage_mid_request_leaves_nothing_half_written(
    graph_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    original_add = NodeRepository.add

    async def add_then_lose_the_connection(self: NodeRepository, *args: Any) -> Any:
        await original_add(self, *args)  # the INSERTs were sent...
        raise OperationalError("COMMIT", {}, ConnectionResetError("server closed the connection"))

    monkeypatch.setattr(NodeRepository, "add", add_then_lose_the_connection)
    response = await graph_client.post(
        "/v1/nodes", json={"title": "half", "tags": ["a", "b"]}, headers=ALICE
    )
    monkeypatch.undo()

    assert response.status_code == 503
    listing = await graph_client.get("/v1/nodes", headers=ALICE)
    assert listing.json()["items"] == []

"""What a failure's Sentry event says: handled or not, its cause, and nothing the user sent.

Marker values go through every failing path (a write the database refuses, a search on a
broken database, an upstream failure) and must not appear in any envelope item or log
line.
"""

from __future__ import annotations

import shutil
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import sentry_sdk
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from app.main import create_app
from tests.conftest import ClientFactory, LogReader, SettingsFactory, auth
from tests.core.test_sentry import sentry_on
from tests.local_http import FakeLLM, SentryIngest
from tests.routers.test_ai import API_KEY, _dev_secret, llm_settings

ALICE = auth("alice")
TITLE_MARKER = "PII-MARKER-TITLE-7f3a"
BODY_MARKER = "PII-MARKER-BODY-91c2"
QUERY_MARKER = "pii7marker7query"
PROMPT_MARKER = "PII-MARKER-PROMPT-5d0e"


def on(ingest: SentryIngest) -> dict[str, object]:
    """Sentry on, with the secret the test tokens are signed with."""
    return sentry_on(ingest, environment="development", jwt_secret=_dev_secret())


def _exceptions(event: dict[str, Any]) -> list[dict[str, Any]]:
    values: list[dict[str, Any]] = event["exception"]["values"]
    return values


def assert_nowhere(markers: tuple[str, ...], ingest: SentryIngest, logs: LogReader) -> None:
    logs.read()
    sent = ingest.all_bytes().decode()
    assert ingest.requests  # the check below would pass vacuously without envelopes
    for marker in markers:
        assert marker not in sent, sent[max(0, sent.find(marker) - 300) : sent.find(marker) + 50]
        assert marker not in logs.text


async def test_unexpected_exception_is_reported_unhandled(
    error_routes_client: ClientFactory, sentry_ingest: SentryIngest
) -> None:
    client = await error_routes_client(**sentry_on(sentry_ingest))

    response = await client.get("/test/boom")
    sentry_sdk.flush()

    (event,) = sentry_ingest.events
    assert event["event_id"] == response.json()["event_id"]
    mechanism = _exceptions(event)[-1]["mechanism"]
    assert mechanism["handled"] is False
    assert mechanism["type"] == "starlette"


async def test_mapped_failure_is_reported_handled(
    error_routes_client: ClientFactory, sentry_ingest: SentryIngest
) -> None:
    client = await error_routes_client(**sentry_on(sentry_ingest))

    response = await client.get("/test/app-error/upstream")
    sentry_sdk.flush()

    assert response.status_code == 502
    (event,) = sentry_ingest.events
    assert _exceptions(event)[-1]["mechanism"]["handled"] is True


@pytest.fixture
def sqlite_in_own_directory(tmp_path: Path) -> Path:
    return tmp_path / "data" / "graph.db"


def corrupt(database: Path) -> None:
    """Everything after the first page (the schema) becomes garbage."""
    data = database.read_bytes()
    database.write_bytes(data[:4096] + b"\xa5" * (len(data) - 4096))


async def _client(app: Any, stack: AsyncExitStack) -> AsyncClient:
    await stack.enter_async_context(LifespanManager(app))
    transport = ASGITransport(app=app, client=("203.0.113.7", 51234))
    client = AsyncClient(transport=transport, base_url="http://testserver")
    return await stack.enter_async_context(client)


async def test_failing_write_sends_no_user_values_and_says_the_database_failed(
    settings_factory: SettingsFactory,
    sentry_ingest: SentryIngest,
    logs: LogReader,
    sqlite_in_own_directory: Path,
) -> None:
    settings = settings_factory(
        **on(sentry_ingest), database_url=f"sqlite+aiosqlite:///{sqlite_in_own_directory}"
    )
    async with AsyncExitStack() as stack:
        client = await _client(create_app(settings), stack)
        created = await client.post("/v1/nodes", json={"title": "first"}, headers=ALICE)
        assert created.status_code == 201
        shutil.rmtree(sqlite_in_own_directory.parent)  # the journal can no longer be created

        response = await client.post(
            "/v1/nodes",
            json={"title": TITLE_MARKER, "body": BODY_MARKER, "tags": ["x"]},
            headers=ALICE,
        )
        sentry_sdk.flush()

    assert response.status_code == 503
    (event,) = sentry_ingest.events
    assert event["event_id"] == response.json()["event_id"]
    exceptions = _exceptions(event)
    assert exceptions[-1]["type"] == "ServiceUnavailable"
    assert exceptions[-1]["mechanism"]["handled"] is True
    # The cause is chained, SQL text and all; its parameters are not.
    assert any(value["type"] == "OperationalError" for value in exceptions[:-1])
    assert event["contexts"]["cause"] == {
        "dependency": "database",
        "reason": "unavailable",
        "error_type": "OperationalError",
    }
    assert_nowhere((TITLE_MARKER, BODY_MARKER), sentry_ingest, logs)


async def test_failing_search_sends_no_query_terms(
    settings_factory: SettingsFactory,
    sentry_ingest: SentryIngest,
    logs: LogReader,
    sqlite_in_own_directory: Path,
) -> None:
    settings = settings_factory(
        **on(sentry_ingest), database_url=f"sqlite+aiosqlite:///{sqlite_in_own_directory}"
    )
    async with AsyncExitStack() as stack:
        app = create_app(settings)
        client = await _client(app, stack)
        for number in range(30):
            body = {"title": f"node {number}", "body": "words " * 200}
            assert (await client.post("/v1/nodes", json=body, headers=ALICE)).status_code == 201
        await app.state.engine.dispose()
        corrupt(sqlite_in_own_directory)

        response = await client.get(f"/v1/nodes?q={QUERY_MARKER}", headers=ALICE)
        sentry_sdk.flush()

    assert response.status_code == 500
    (event,) = sentry_ingest.events
    assert _exceptions(event)[-1]["mechanism"] == {"type": "starlette", "handled": False}
    assert "DatabaseError" in {value["type"] for value in _exceptions(event)}
    # The breadcrumbs hold the SQL as executed (placeholders, not values, not URL-encoded).
    queries = [crumb["message"] for crumb in event["breadcrumbs"]["values"]]
    assert any(" = ?" in query for query in queries if query)
    assert not any("%3F" in query for query in queries if query)
    assert_nowhere((QUERY_MARKER,), sentry_ingest, logs)


async def test_upstream_failure_carries_its_status_and_none_of_the_users_text(
    client_factory: ClientFactory, fake_llm: FakeLLM, sentry_ingest: SentryIngest, logs: LogReader
) -> None:
    fake_llm.mode = "error"
    client = await client_factory(
        **llm_settings(fake_llm, llm_max_retries=1),
        **on(sentry_ingest),
    )
    fake_llm.retry_after = None

    response = await client.post(
        "/v1/ai/chat", json={"message": f"what is {PROMPT_MARKER}?"}, headers=ALICE
    )
    sentry_sdk.flush()

    assert response.status_code == 502
    (event,) = sentry_ingest.events
    assert event["contexts"]["cause"] == {
        "dependency": "llm",
        "reason": "upstream_error",
        "attempts": 2,
        "upstream_status": 500,
    }
    assert _exceptions(event)[-1]["mechanism"]["handled"] is True
    assert len(fake_llm.requests) == 2
    assert PROMPT_MARKER.encode() in fake_llm.requests[0].body  # it did leave, to the LLM
    assert_nowhere((PROMPT_MARKER, API_KEY, "sk-leak"), sentry_ingest, logs)


async def test_unreachable_upstream_says_how_and_chains_the_connection_error(
    client_factory: ClientFactory, sentry_ingest: SentryIngest, logs: LogReader
) -> None:
    client = await client_factory(
        llm_provider="openai",
        llm_base_url="http://127.0.0.1:9/v1",
        llm_api_key=API_KEY,
        llm_max_retries=0,
        **on(sentry_ingest),
    )

    response = await client.post(
        "/v1/ai/chat", json={"message": f"tell me {PROMPT_MARKER}"}, headers=ALICE
    )
    sentry_sdk.flush()

    assert response.status_code == 502
    (event,) = sentry_ingest.events
    assert event["contexts"]["cause"] == {
        "dependency": "llm",
        "reason": "unreachable",
        "attempts": 1,
        "connection_error": "ConnectError",
    }
    assert [value["type"] for value in _exceptions(event)][-2:] == ["ConnectError", "UpstreamError"]
    assert_nowhere((PROMPT_MARKER, API_KEY), sentry_ingest, logs)


async def test_upstream_timeout_says_which_timeout(
    client_factory: ClientFactory, fake_llm: FakeLLM, sentry_ingest: SentryIngest
) -> None:
    fake_llm.mode = "slow"
    fake_llm.delay = 1.5
    client = await client_factory(
        **llm_settings(fake_llm),
        **on(sentry_ingest),
    )

    response = await client.post("/v1/ai/chat", json={"message": "hello"}, headers=ALICE)
    sentry_sdk.flush()

    assert response.status_code == 504
    (event,) = sentry_ingest.events
    assert event["contexts"]["cause"] == {
        "dependency": "llm",
        "reason": "timeout",
        "attempts": 1,
        "timeout_kind": "read",
    }
    assert _exceptions(event)[-2]["type"] == "ReadTimeout"

from __future__ import annotations

import ast
import os
from pathlib import Path

import httpx
import pytest
import sentry_sdk

import app as app_package
from app.core.config import Settings
from app.core.context import bind_request_context
from app.core.sentry import init_sentry, traces_sampler_for
from app.core.tracking import ErrorTrackingService
from tests.conftest import ClientFactory, LogReader, SettingsFactory
from tests.error_routes import SECRET_EXCEPTION_TEXT
from tests.local_http import RecordingServer, SentryIngest

TRACE_ID = "771a43a4192642f0b136d5159a501700"
PARENT_SPAN_ID = "b0e6f15b45c36b12"


def sentry_on(ingest: SentryIngest, **overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "sentry_dsn": ingest.dsn,
        "sentry_traces_sample_rate": 1.0,
        "environment": "staging",
        "jwt_secret": "s" * 40,
    }
    values.update(overrides)
    return values


async def test_one_event_per_500_with_the_body_event_id_and_full_context(
    error_routes_client: ClientFactory, sentry_ingest: SentryIngest, logs: LogReader
) -> None:
    client = await error_routes_client(**sentry_on(sentry_ingest))

    response = await client.get(
        "/test/boom", headers={"X-Request-ID": "boom-req-0001", "X-Test-User": "carol"}
    )
    sentry_sdk.flush()

    assert response.status_code == 500
    (event,) = sentry_ingest.events
    assert event["event_id"] == response.json()["event_id"]
    assert event["tags"]["correlation_id"] == "boom-req-0001"
    assert event["tags"]["component"] == "api"
    assert event["user"]["id"] == "carol"
    assert event["release"] == "graphnode-api@1.2.3-test"
    assert event["environment"] == "staging"
    assert event["transaction"] == "/test/boom"
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert event["contexts"]["graphnode"]["endpoint"] == "/test/boom"
    assert event["contexts"]["trace"]["trace_id"]
    # The runtime context comes from the stdlib integration: it must stay in the list.
    assert event["contexts"]["runtime"]["name"] == "CPython"
    (failed,) = logs.events("request.failed")
    assert failed["sentry_event_id"] == event["event_id"]
    assert failed["correlation_id"] == "boom-req-0001"
    assert failed["trace_id"] == event["contexts"]["trace"]["trace_id"]


async def test_transaction_is_named_by_route_template(
    error_routes_client: ClientFactory, sentry_ingest: SentryIngest
) -> None:
    client = await error_routes_client(**sentry_on(sentry_ingest))

    await client.get("/test/items/42", headers={"X-Request-ID": "tx-req-0001"})
    await client.get("/test/boom")
    sentry_sdk.flush()

    by_name = {tx["transaction"]: tx for tx in sentry_ingest.transactions}
    assert set(by_name) == {"/test/items/{item_id}", "/test/boom"}
    ok = by_name["/test/items/{item_id}"]
    assert ok["transaction_info"]["source"] == "route"
    assert ok["contexts"]["trace"]["op"] == "http.server"
    assert ok["contexts"]["trace"]["status"] == "ok"
    assert ok["tags"]["correlation_id"] == "tx-req-0001"
    assert by_name["/test/boom"]["contexts"]["trace"]["status"] == "internal_error"


async def test_error_event_and_transaction_carry_the_route_template_and_request(
    error_routes_client: ClientFactory, sentry_ingest: SentryIngest
) -> None:
    client = await error_routes_client(**sentry_on(sentry_ingest))

    response = await client.get("/test/http-error/503?page=2")
    sentry_sdk.flush()

    assert response.status_code == 503
    (event,) = sentry_ingest.events
    assert event["transaction"] == "/test/http-error/{status}"
    assert event["transaction_info"]["source"] == "route"
    assert event["request"]["method"] == "GET"
    assert event["request"]["url"] == "http://testserver/test/http-error/503"
    assert event["request"]["query_string"] == "page=2"
    (transaction,) = sentry_ingest.transactions
    assert transaction["transaction"] == "/test/http-error/{status}"
    assert transaction["contexts"]["trace"]["trace_id"] == event["contexts"]["trace"]["trace_id"]
    assert transaction["contexts"]["trace"]["status"] == "unavailable"
    assert transaction["contexts"]["trace"]["origin"] == "auto.http.starlette"
    assert transaction["request"]["method"] == "GET"


async def test_the_route_is_in_the_trace_context_that_travels_with_the_request(
    error_routes_client: ClientFactory, sentry_ingest: SentryIngest
) -> None:
    client = await error_routes_client(**sentry_on(sentry_ingest))

    response = await client.get("/test/baggage/7")
    await client.get("/test/no-such-route")
    sentry_sdk.flush()

    # What leaves with outgoing requests and job messages while the request runs...
    assert "sentry-transaction=/test/baggage/%7Bitem_id%7D" in response.json()["baggage"]
    # ...and what Sentry's server-side sampling reads from the envelope.
    traced = {trace.get("transaction") for trace in sentry_ingest.transaction_traces}
    assert traced == {"/test/baggage/{item_id}", None}
    routed, unmatched = sorted(sentry_ingest.transactions, key=lambda tx: tx["transaction"])
    assert routed["transaction"] == "/test/baggage/{item_id}"
    assert routed["transaction_info"]["source"] == "route"
    # Nothing matched: the SDK names it by URL, which the sampling context leaves out.
    assert unmatched["transaction"].endswith("/test/no-such-route")
    assert unmatched["transaction_info"]["source"] == "url"


def _private_imports(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
            names: list[str] = []
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
            names = [alias.name for alias in node.names]
        else:
            continue
        for module in modules:
            if module == "__future__" or module.split(".")[0] == "app":
                continue
            if any(part.startswith("_") for part in module.split(".")) or any(
                name.startswith("_") for name in names
            ):
                found.append(f"{module}: {', '.join(names) or '*'}")
    return found


def test_private_imports_are_found() -> None:
    # The check below would pass vacuously if this found nothing.
    assert _private_imports("from sentry_sdk.integrations._asgi_common import _RootPathInPath")
    assert _private_imports("from sentry_sdk.utils import _get_frame")
    assert not _private_imports(
        "from sentry_sdk.integrations.starlette import StarletteIntegration"
    )


def test_app_imports_no_private_module_or_name_of_a_dependency() -> None:
    root = Path(app_package.__file__).parent
    offenders = {
        str(path.relative_to(root)): found
        for path in sorted(root.rglob("*.py"))
        if (found := _private_imports(path.read_text()))
    }
    assert offenders == {}


async def test_4xx_are_not_reported_as_errors(
    error_routes_client: ClientFactory, sentry_ingest: SentryIngest
) -> None:
    client = await error_routes_client(**sentry_on(sentry_ingest))

    for path in ("/nowhere", "/test/items/x", "/test/app-error/conflict", "/test/mw-http"):
        response = await client.get(path)
        assert 400 <= response.status_code < 500
        assert "event_id" not in response.json()
    sentry_sdk.flush()

    assert sentry_ingest.events == []


async def test_each_5xx_path_is_reported_exactly_once(
    error_routes_client: ClientFactory, sentry_ingest: SentryIngest
) -> None:
    client = await error_routes_client(**sentry_on(sentry_ingest))
    paths = [
        "/test/boom",
        "/test/mw-crash",
        "/test/response-invalid",
        "/test/http-error/503",
        "/test/app-error/upstream",
    ]

    event_ids = []
    for path in paths:
        response = await client.get(path)
        assert response.status_code >= 500
        event_ids.append(response.json()["event_id"])
    sentry_sdk.flush()

    assert sorted(event["event_id"] for event in sentry_ingest.events) == sorted(event_ids)


async def test_problem_body_never_leaks_into_the_event_message(
    error_routes_client: ClientFactory, sentry_ingest: SentryIngest
) -> None:
    client = await error_routes_client(**sentry_on(sentry_ingest))

    response = await client.get("/test/boom")
    sentry_sdk.flush()

    # The operator sees the exception text in Sentry; the client never does.
    assert SECRET_EXCEPTION_TEXT in sentry_ingest.events[0]["exception"]["values"][-1]["value"]
    assert SECRET_EXCEPTION_TEXT not in response.text


async def test_incoming_sentry_trace_is_continued(
    error_routes_client: ClientFactory, sentry_ingest: SentryIngest
) -> None:
    client = await error_routes_client(**sentry_on(sentry_ingest, sentry_traces_sample_rate=0.0))

    # A Node.js service running @sentry/node sends these two headers.
    await client.get(
        "/test/items/1",
        headers={
            "sentry-trace": f"{TRACE_ID}-{PARENT_SPAN_ID}-1",
            "baggage": f"sentry-trace_id={TRACE_ID},sentry-sampled=true,sentry-environment=prod",
        },
    )
    sentry_sdk.flush()

    (transaction,) = sentry_ingest.transactions
    trace = transaction["contexts"]["trace"]
    assert trace["trace_id"] == TRACE_ID
    assert trace["parent_span_id"] == PARENT_SPAN_ID


async def test_parent_decision_not_to_sample_is_honoured(
    error_routes_client: ClientFactory, sentry_ingest: SentryIngest
) -> None:
    client = await error_routes_client(**sentry_on(sentry_ingest))

    response = await client.get(
        "/test/boom", headers={"sentry-trace": f"{TRACE_ID}-{PARENT_SPAN_ID}-0"}
    )
    sentry_sdk.flush()

    assert sentry_ingest.transactions == []
    (event,) = sentry_ingest.events  # errors are always reported
    assert event["event_id"] == response.json()["event_id"]
    assert event["contexts"]["trace"]["trace_id"] == TRACE_ID


async def test_health_and_docs_are_not_traced(
    client_factory: ClientFactory, sentry_ingest: SentryIngest
) -> None:
    client = await client_factory(**sentry_on(sentry_ingest))

    for path in ("/healthz", "/readyz", "/openapi.json", "/problems/not-found"):
        assert (await client.get(path)).status_code == 200
    sentry_sdk.flush()

    assert sentry_ingest.transactions == []


def test_sampler_uses_the_rate_when_there_is_no_parent() -> None:
    sampler = traces_sampler_for(0.25)

    assert sampler({"asgi_scope": {"path": "/v1/nodes"}, "parent_sampled": None}) == 0.25
    assert sampler({"asgi_scope": {"path": "/v1/nodes"}, "parent_sampled": True}) == 1.0
    assert sampler({"asgi_scope": {"path": "/healthz"}, "parent_sampled": True}) == 0.0
    assert sampler({"transaction_context": {"name": "task"}}) == 0.25


async def test_credentials_are_scrubbed_from_events(
    error_routes_client: ClientFactory, sentry_ingest: SentryIngest
) -> None:
    client = await error_routes_client(**sentry_on(sentry_ingest))

    await client.get(
        "/test/boom?token=qs-secret-1&page=2",
        headers={
            "Authorization": "Bearer hdr-secret-2",
            "Cookie": "session=ck-secret-3",
            "X-Api-Key": "key-secret-4",
        },
    )
    sentry_sdk.flush()

    sent = sentry_ingest.all_bytes()
    assert sentry_ingest.events
    for secret in (b"qs-secret-1", b"hdr-secret-2", b"ck-secret-3", b"key-secret-4"):
        assert secret not in sent, sent[sent.index(secret) - 300 : sent.index(secret) + 50]
    assert "page=2" in sentry_ingest.events[0]["request"]["query_string"]


async def test_client_is_flushed_on_shutdown(
    settings_factory: SettingsFactory, sentry_ingest: SentryIngest
) -> None:
    from asgi_lifespan import LifespanManager
    from httpx import ASGITransport, AsyncClient

    from app.main import create_app
    from tests.error_routes import add_test_routes

    app = add_test_routes(create_app(settings_factory(**sentry_on(sentry_ingest))))
    async with (
        LifespanManager(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as client,
    ):
        response = await client.get("/test/boom")
    # No explicit flush: leaving the lifespan must have delivered the event.

    assert [event["event_id"] for event in sentry_ingest.events] == [response.json()["event_id"]]


def test_sentry_is_off_without_dsn_or_spotlight(settings_factory: SettingsFactory) -> None:
    assert init_sentry(settings_factory(), component="api") is False
    assert not sentry_sdk.get_client().is_active()


def test_spotlight_receives_events_without_a_dsn(
    settings_factory: SettingsFactory, sentry_ingest: SentryIngest
) -> None:
    settings = settings_factory(sentry_spotlight=f"http://127.0.0.1:{sentry_ingest.port}/stream")

    assert init_sentry(settings, component="worker") is True
    event_id = ErrorTrackingService().capture_message("hello spotlight", level="warning")
    sentry_sdk.flush()

    assert event_id is not None
    assert "/stream" in sentry_ingest.paths
    (event,) = sentry_ingest.events
    assert event["message"] == "hello spotlight"
    assert event["tags"]["component"] == "worker"


def test_tracking_service_returns_event_ids_and_scopes_context(
    settings_factory: SettingsFactory, sentry_ingest: SentryIngest
) -> None:
    init_sentry(settings_factory(**sentry_on(sentry_ingest)), component="api")
    tracking = ErrorTrackingService()

    try:
        raise ValueError("analysis failed")
    except ValueError as exc:
        first = tracking.capture_exception(
            exc, context={"endpoint": "/v1/ai/lightweight-analyze", "user_id": "u-9"}
        )
    second = tracking.capture_message("quota nearly used", level="warning")
    sentry_sdk.flush()

    events = {event["event_id"]: event for event in sentry_ingest.events}
    assert set(events) == {first, second}
    assert events[first]["contexts"]["graphnode"] == {
        "endpoint": "/v1/ai/lightweight-analyze",
        "user_id": "u-9",
    }
    assert events[second]["level"] == "warning"
    assert "graphnode" not in events[second]["contexts"]


def test_release_defaults_to_the_package_version_and_commit() -> None:
    from app.core.release import git_sha, package_version

    settings = Settings(_env_file=None)

    assert settings.release == f"graphnode-api@{package_version()}+{git_sha()}"


async def test_error_after_streaming_started_is_reported_once(
    error_routes_client: ClientFactory, sentry_ingest: SentryIngest, logs: LogReader
) -> None:
    client = await error_routes_client(**sentry_on(sentry_ingest))

    with pytest.raises(RuntimeError, match="stream broke"):
        await client.get("/test/stream-error")
    sentry_sdk.flush()

    (event,) = sentry_ingest.events
    (failed,) = logs.events("request.failed")
    assert failed["sentry_event_id"] == event["event_id"]


async def test_user_and_correlation_id_are_on_the_transaction(
    error_routes_client: ClientFactory, sentry_ingest: SentryIngest
) -> None:
    client = await error_routes_client(**sentry_on(sentry_ingest))

    await client.get("/test/items/5", headers={"X-Request-ID": "user-tx-001", "X-Test-User": "dan"})
    sentry_sdk.flush()

    (transaction,) = sentry_ingest.transactions
    assert transaction["user"]["id"] == "dan"
    assert transaction["tags"]["correlation_id"] == "user-tx-001"
    assert transaction["tags"]["component"] == "api"


@pytest.mark.parametrize(("targets", "propagated"), [("127.0.0.1", True), ("", False)])
async def test_outgoing_trace_headers_only_go_to_configured_hosts(
    settings_factory: SettingsFactory,
    sentry_ingest: SentryIngest,
    targets: str,
    propagated: bool,
) -> None:
    init_sentry(
        settings_factory(**sentry_on(sentry_ingest, trace_propagation_targets=targets)),
        component="api",
    )
    upstream = RecordingServer()
    upstream.start()
    try:
        with sentry_sdk.start_transaction(name="outgoing", op="test"):
            async with httpx.AsyncClient() as http:
                await http.post(f"http://127.0.0.1:{upstream.port}/v1/chat", content=b"{}")
    finally:
        upstream.stop()

    (request,) = upstream.requests
    assert ("sentry-trace" in request.headers) is propagated
    assert ("baggage" in request.headers) is propagated


def test_profiling_uses_the_session_sample_rate(
    settings_factory: SettingsFactory, sentry_ingest: SentryIngest
) -> None:
    init_sentry(
        settings_factory(**sentry_on(sentry_ingest, sentry_profile_session_sample_rate=0.5)),
        component="api",
    )

    options = sentry_sdk.get_client().options
    assert options["profile_session_sample_rate"] == 0.5
    assert options["profile_lifecycle"] == "trace"


def test_bind_request_context_scopes_sentry_user_and_tags(
    settings_factory: SettingsFactory, sentry_ingest: SentryIngest
) -> None:
    init_sentry(settings_factory(**sentry_on(sentry_ingest)), component="worker")

    with bind_request_context(correlation_id="job-a-000001", user_id="alice", job_id="j1"):
        first = sentry_sdk.capture_message("in job a")
    with bind_request_context(correlation_id="job-b-000001"):
        second = sentry_sdk.capture_message("in job b")
    outside = sentry_sdk.capture_message("outside any job")
    sentry_sdk.flush()

    events = {event["event_id"]: event for event in sentry_ingest.events}
    assert events[first]["user"] == {"id": "alice"}
    assert events[first]["tags"]["job_id"] == "j1"
    assert "user" not in events[second]
    assert "job_id" not in events[second]["tags"]
    assert events[second]["tags"]["correlation_id"] == "job-b-000001"
    assert "correlation_id" not in events[outside].get("tags", {})
    assert "user" not in events[outside]


async def test_outgoing_query_credentials_are_scrubbed_from_spans(
    settings_factory: SettingsFactory, sentry_ingest: SentryIngest
) -> None:
    init_sentry(settings_factory(**sentry_on(sentry_ingest)), component="api")
    upstream = RecordingServer()
    upstream.start()
    try:
        with sentry_sdk.start_transaction(name="outgoing", op="test"):
            async with httpx.AsyncClient() as http:
                await http.get(
                    f"http://127.0.0.1:{upstream.port}/v1/models",
                    params={"api_key": "outgoing-secret-1", "model": "m"},
                )
        sentry_sdk.flush()
    finally:
        upstream.stop()

    (transaction,) = sentry_ingest.transactions
    assert any(span["op"] == "http.client" for span in transaction["spans"])
    assert b"outgoing-secret-1" not in sentry_ingest.all_bytes()
    assert b"model=m" in sentry_ingest.all_bytes()


async def test_failed_readiness_is_not_an_event(
    client_factory: ClientFactory, sentry_ingest: SentryIngest, logs: LogReader
) -> None:
    client = await client_factory(
        **sentry_on(sentry_ingest),
        database_url="postgresql+asyncpg://nobody@127.0.0.1:9/db",
        database_auto_migrate=False,
    )

    responses = [await client.get("/readyz") for _ in range(3)]
    sentry_sdk.flush()

    assert [response.status_code for response in responses] == [503] * 3
    assert all("event_id" not in response.json() for response in responses)
    assert sentry_ingest.events == []
    assert [line["level"] for line in logs.events("request.failed")] == ["warning"] * 3


async def test_5xx_app_error_from_middleware_is_reported_once(
    error_routes_client: ClientFactory, sentry_ingest: SentryIngest
) -> None:
    client = await error_routes_client(**sentry_on(sentry_ingest))

    response = await client.get("/test/mw-unavailable")
    sentry_sdk.flush()

    assert response.status_code == 503
    assert response.headers["retry-after"] == "60"
    assert [event["event_id"] for event in sentry_ingest.events] == [response.json()["event_id"]]


async def test_client_gone_mid_response_is_not_an_error(
    settings_factory: SettingsFactory, sentry_ingest: SentryIngest, logs: LogReader
) -> None:
    from app.main import create_app
    from tests.conftest import asgi_request
    from tests.error_routes import add_test_routes

    app = add_test_routes(create_app(settings_factory(**sentry_on(sentry_ingest))))

    await asgi_request(app, "GET", "/test/items/1", fail_on_body=True)
    await asgi_request(app, "POST", "/test/echo-body", disconnect=True)
    sentry_sdk.flush()

    assert sentry_ingest.events == []
    lines = logs.events("http.request")
    assert [(line["status"], line.get("disconnected")) for line in lines] == [
        (499, True),
        (499, True),
    ]


async def test_access_lines_carry_the_transaction_trace_and_span(
    error_routes_client: ClientFactory, sentry_ingest: SentryIngest, logs: LogReader
) -> None:
    client = await error_routes_client(**sentry_on(sentry_ingest))

    await client.get("/test/items/9")
    sentry_sdk.flush()

    (transaction,) = sentry_ingest.transactions
    (access,) = logs.events("http.request")
    assert access["trace_id"] == transaction["contexts"]["trace"]["trace_id"]
    assert access["span_id"] == transaction["contexts"]["trace"]["span_id"]
    (item,) = logs.events("item.read")
    assert item["trace_id"] == access["trace_id"]
    assert len(item["span_id"]) == 16


async def test_client_ip_and_pii_are_not_sent(
    error_routes_client: ClientFactory, sentry_ingest: SentryIngest
) -> None:
    client = await error_routes_client(**sentry_on(sentry_ingest))

    await client.get("/test/boom", headers={"X-Forwarded-For": "192.0.2.44"})
    sentry_sdk.flush()

    sent = sentry_ingest.all_bytes()
    assert b"203.0.113.7" not in sent  # the ASGI client address
    assert b"192.0.2.44" not in sent


async def test_sql_in_spans_is_kept_as_executed(
    client_factory: ClientFactory, sentry_ingest: SentryIngest
) -> None:
    from tests.errors.test_reported_failures import ALICE, on

    client = await client_factory(**on(sentry_ingest))
    node = await client.post("/v1/nodes", json={"title": "a", "tags": ["x", "y"]}, headers=ALICE)
    await client.get(f"/v1/nodes/{node.json()['id']}", headers=ALICE)
    sentry_sdk.flush()

    statements = [
        span["description"]
        for transaction in sentry_ingest.transactions
        for span in transaction["spans"]
        if span["op"] == "db"
    ]
    assert any("WHERE" in statement and " = ?" in statement for statement in statements)
    for statement in statements:
        assert "%3F" not in statement
        assert "+" not in statement.replace(" + ", "")


def test_tracking_service_takes_context_and_level_positionally(
    settings_factory: SettingsFactory, sentry_ingest: SentryIngest
) -> None:
    import logging

    init_sentry(settings_factory(**sentry_on(sentry_ingest)), component="api")
    tracking = ErrorTrackingService()

    try:
        raise ValueError("analysis failed")
    except ValueError as exc:
        positional = tracking.capture_exception(exc, {"endpoint": "/v1/ai/lightweight-analyze"})
    messages = [
        tracking.capture_message("quota nearly used", "warning"),
        tracking.capture_message("quota used", "ERROR"),
        tracking.capture_message("quota state", level=logging.INFO),
        tracking.capture_message("quota reset", level="debug", context={"quota": "daily"}),
    ]
    sentry_sdk.flush()

    events = {event["event_id"]: event for event in sentry_ingest.events}
    assert set(events) == {positional, *messages}
    assert events[positional]["contexts"]["graphnode"] == {"endpoint": "/v1/ai/lightweight-analyze"}
    assert events[positional]["exception"]["values"][-1]["mechanism"]["handled"] is True
    assert [events[event_id]["level"] for event_id in messages] == [
        "warning",
        "error",
        "info",
        "debug",
    ]
    assert events[messages[3]]["contexts"]["graphnode"] == {"quota": "daily"}


def test_tracking_service_refuses_an_unknown_level(
    settings_factory: SettingsFactory, sentry_ingest: SentryIngest
) -> None:
    init_sentry(settings_factory(**sentry_on(sentry_ingest)), component="api")

    with pytest.raises(ValueError, match="unknown level 'loud'"):
        ErrorTrackingService().capture_message("x", "loud")


async def test_start_up_and_shutdown_lines_carry_no_trace(
    settings_factory: SettingsFactory, sentry_ingest: SentryIngest, logs: LogReader
) -> None:
    from asgi_lifespan import LifespanManager

    from app.main import create_app
    from tests.conftest import service_url

    # A Redis broker's start-up runs XGROUP CREATE, which the Redis integration traces; it
    # fails (BUSYGROUP) from the second start on, when the group exists.
    settings = settings_factory(
        **sentry_on(sentry_ingest),
        broker_url=service_url("TEST_REDIS_URL"),
        broker_queue=f"graphnode-test-{os.urandom(6).hex()}",
    )
    async with LifespanManager(create_app(settings)):
        pass
    logs.read()
    logs.lines.clear()
    async with LifespanManager(create_app(settings)):
        pass
    logs.read()

    lines = [line for line in logs.lines if line["event"] in ("app.started", "app.stopped")]
    assert [line["event"] for line in lines] == ["app.started", "app.stopped"]
    assert [line.get("trace_id") for line in lines] == [None, None]


def test_spotlight_announces_itself_in_a_json_line(
    settings_factory: SettingsFactory, sentry_ingest: SentryIngest, logs: LogReader
) -> None:
    from app.main import create_app

    url = f"http://127.0.0.1:{sentry_ingest.port}/stream"
    create_app(settings_factory(sentry_spotlight=url))

    (line,) = logs.events("sentry.spotlight_enabled")  # every line read must be JSON
    assert line["url"] == url
    assert "[spotlight]" not in logs.text

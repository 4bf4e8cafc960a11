"""W3C Trace Context in and out, against OpenTelemetry's own propagator and SDK."""

from __future__ import annotations

from typing import Any

import pytest
import sentry_sdk
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Sampler
from opentelemetry.trace import Span, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from taskiq import TaskiqMessage

from app.core.trace_context import sentry_trace_from_traceparent, traceparent_from_sentry_trace
from app.worker.broker import build_broker
from app.worker.labels import JobLabels
from app.worker.middleware import ContextPropagationMiddleware
from tests.conftest import ClientFactory, SettingsFactory
from tests.core.test_sentry import PARENT_SPAN_ID, TRACE_ID, sentry_on
from tests.errors.test_reported_failures import ALICE, on
from tests.local_http import FakeLLM, SentryIngest
from tests.routers.test_ai import llm_settings

PROPAGATOR = TraceContextTextMapPropagator()


def otel_client_span(sampler: Sampler = ALWAYS_ON) -> tuple[Span, dict[str, str]]:
    """A span of an OpenTelemetry-instrumented client, and the headers it would send."""
    span = TracerProvider(sampler=sampler).get_tracer("otel-client").start_span("GET /test")
    headers: dict[str, str] = {}
    PROPAGATOR.inject(headers, context=set_span_in_context(span))
    headers["tracestate"] = "vendor=opaque-value"
    return span, headers


async def test_a_w3c_only_caller_continues_its_trace_here(
    error_routes_client: ClientFactory, sentry_ingest: SentryIngest
) -> None:
    # Rate 0: only the caller's sampled flag can make this transaction be sent.
    client = await error_routes_client(**sentry_on(sentry_ingest, sentry_traces_sample_rate=0.0))
    span, headers = otel_client_span()
    assert set(headers) == {"traceparent", "tracestate"}

    await client.get("/test/items/1", headers=headers)
    sentry_sdk.flush()

    (transaction,) = sentry_ingest.transactions
    trace = transaction["contexts"]["trace"]
    assert trace["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert trace["parent_span_id"] == format(span.get_span_context().span_id, "016x")


async def test_a_w3c_callers_decision_not_to_sample_is_honoured(
    error_routes_client: ClientFactory, sentry_ingest: SentryIngest
) -> None:
    client = await error_routes_client(**sentry_on(sentry_ingest, sentry_traces_sample_rate=1.0))
    span, headers = otel_client_span(ALWAYS_OFF)

    response = await client.get("/test/boom", headers=headers)
    sentry_sdk.flush()

    assert sentry_ingest.transactions == []
    (event,) = sentry_ingest.events  # errors are always reported, in the caller's trace
    assert event["event_id"] == response.json()["event_id"]
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert event["contexts"]["trace"]["trace_id"] == trace_id


async def test_sentry_trace_wins_when_both_headers_come(
    error_routes_client: ClientFactory, sentry_ingest: SentryIngest
) -> None:
    client = await error_routes_client(**sentry_on(sentry_ingest, sentry_traces_sample_rate=0.0))
    _, headers = otel_client_span()

    await client.get(
        "/test/items/1", headers={**headers, "sentry-trace": f"{TRACE_ID}-{PARENT_SPAN_ID}-1"}
    )
    sentry_sdk.flush()

    (transaction,) = sentry_ingest.transactions
    assert transaction["contexts"]["trace"]["trace_id"] == TRACE_ID
    assert transaction["contexts"]["trace"]["parent_span_id"] == PARENT_SPAN_ID


@pytest.mark.parametrize(
    "traceparent",
    [
        "00-00000000000000000000000000000000-b0e6f15b45c36b12-01",  # all-zero trace id
        "00-771a43a4192642f0b136d5159a501700-0000000000000000-01",  # all-zero span id
        "ff-771a43a4192642f0b136d5159a501700-b0e6f15b45c36b12-01",  # forbidden version
        "00-771a43a4192642f0b136d5159a501700-b0e6f15b45c36b12-01-x",  # extra field in 00
        "00-771A43A4192642F0B136D5159A501700-b0e6f15b45c36b12-01",  # upper case
        "garbage",
    ],
)
async def test_an_invalid_traceparent_starts_a_new_trace(
    error_routes_client: ClientFactory, sentry_ingest: SentryIngest, traceparent: str
) -> None:
    client = await error_routes_client(**sentry_on(sentry_ingest))

    await client.get("/test/items/1", headers={"traceparent": traceparent})
    sentry_sdk.flush()

    (transaction,) = sentry_ingest.transactions
    assert transaction["contexts"]["trace"].get("parent_span_id") is None
    assert transaction["contexts"]["trace"]["trace_id"] != TRACE_ID


def test_a_later_traceparent_version_is_read_by_its_level_1_fields() -> None:
    value = f"01-{TRACE_ID}-{PARENT_SPAN_ID}-03-what-comes-next"

    assert sentry_trace_from_traceparent(value) == f"{TRACE_ID}-{PARENT_SPAN_ID}-1"
    assert traceparent_from_sentry_trace(f"{TRACE_ID}-{PARENT_SPAN_ID}") == (
        f"00-{TRACE_ID}-{PARENT_SPAN_ID}-00"
    )


def _otel_consumer_span(headers: dict[str, str]) -> Any:
    """What an OpenTelemetry-instrumented server does with a request's headers."""
    context = PROPAGATOR.extract(headers)
    tracer = TracerProvider(sampler=ALWAYS_ON).get_tracer("otel-consumer")
    return tracer.start_span("POST /v1/chat/completions", context=context)


async def test_an_otel_consumer_continues_our_outgoing_trace(
    client_factory: ClientFactory, fake_llm: FakeLLM, sentry_ingest: SentryIngest
) -> None:
    client = await client_factory(
        **llm_settings(fake_llm), **on(sentry_ingest), trace_propagation_targets="127.0.0.1"
    )

    response = await client.post("/v1/ai/chat", json={"message": "hello"}, headers=ALICE)
    sentry_sdk.flush()

    assert response.status_code == 200
    (request,) = fake_llm.requests
    assert "sentry-trace" in request.headers
    consumer = _otel_consumer_span(request.headers)
    (transaction,) = sentry_ingest.transactions
    (outgoing,) = [span for span in transaction["spans"] if span["op"] == "http.client"]
    assert (
        format(consumer.get_span_context().trace_id, "032x")
        == (transaction["contexts"]["trace"]["trace_id"])
    )
    assert format(consumer.parent.span_id, "016x") == outgoing["span_id"]
    assert consumer.parent.trace_flags.sampled is True


async def test_no_trace_headers_go_to_hosts_that_are_not_targets(
    client_factory: ClientFactory, fake_llm: FakeLLM, sentry_ingest: SentryIngest
) -> None:
    client = await client_factory(
        **llm_settings(fake_llm), **on(sentry_ingest), trace_propagation_targets=""
    )

    await client.post("/v1/ai/chat", json={"message": "hello"}, headers=ALICE)

    (request,) = fake_llm.requests
    assert not {"sentry-trace", "baggage", "traceparent"} & set(request.headers)


def test_job_labels_carry_traceparent_and_a_w3c_only_message_continues_it(
    settings_factory: SettingsFactory, sentry_ingest: SentryIngest
) -> None:
    from app.core.sentry import init_sentry

    settings = settings_factory(**sentry_on(sentry_ingest))
    init_sentry(settings, component="api")
    middleware = ContextPropagationMiddleware()
    middleware.set_broker(build_broker(settings))
    message = TaskiqMessage(task_id="t1", task_name="x", labels={}, args=[], kwargs={})

    with sentry_sdk.start_transaction(name="producer", op="test") as transaction:
        labels = middleware.pre_send(message).labels

    consumer = _otel_consumer_span(labels)
    assert format(consumer.get_span_context().trace_id, "032x") == transaction.trace_id
    assert format(consumer.parent.span_id, "016x") == transaction.span_id
    # A producer that speaks only W3C: the worker continues its trace all the same.
    parsed = JobLabels.parse({"traceparent": labels["traceparent"]})
    assert parsed.trace_headers == {"sentry-trace": labels["sentry-trace"]}

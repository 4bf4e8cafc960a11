"""W3C Trace Context (`traceparent`) beside Sentry's `sentry-trace`, in and out.

sentry-sdk reads and writes `sentry-trace`/`baggage` only. An OpenTelemetry client sends
`traceparent` (and `tracestate`) instead; the two carry the same three things (trace id,
parent span id, sampled flag), so each is translated into the other at the edges:
requests that bring only `traceparent` continue its trace, and outgoing requests and job
messages that get `sentry-trace` also get the equivalent `traceparent`.
"""

from __future__ import annotations

import re

import httpx
from starlette.types import Scope

TRACEPARENT = "traceparent"
SENTRY_TRACE = "sentry-trace"
_TRACEPARENT_BYTES = b"traceparent"
_SENTRY_TRACE_BYTES = b"sentry-trace"

# version-traceid-parentid-flags (W3C Trace Context level 1, section 3.2); later versions
# may append fields after the flags.
_TRACEPARENT = re.compile(
    r"(?P<version>[0-9a-f]{2})-(?P<trace_id>[0-9a-f]{32})-(?P<span_id>[0-9a-f]{16})"
    r"-(?P<flags>[0-9a-f]{2})(?P<rest>-.*)?"
)
_SENTRY_TRACE = re.compile(r"(?P<trace_id>[0-9a-f]{32})-(?P<span_id>[0-9a-f]{16})(-(?P<s>[01]))?")
_SAMPLED_FLAG = 0x01


def sentry_trace_from_traceparent(value: str) -> str | None:
    """The `sentry-trace` value equivalent to a valid `traceparent`, else None."""
    match = _TRACEPARENT.fullmatch(value.strip())
    if match is None:
        return None
    version, trace_id, span_id = match["version"], match["trace_id"], match["span_id"]
    if version == "ff" or (version == "00" and match["rest"]):
        return None
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    sampled = int(match["flags"], 16) & _SAMPLED_FLAG
    return f"{trace_id}-{span_id}-{1 if sampled else 0}"


def traceparent_from_sentry_trace(value: str) -> str | None:
    """The `traceparent` value equivalent to a `sentry-trace` value, else None. A deferred
    sampling decision (no flag) is sent as not sampled, as W3C has no "undecided"."""
    match = _SENTRY_TRACE.fullmatch(value.strip())
    if match is None:
        return None
    flags = "01" if match["s"] == "1" else "00"
    return f"00-{match['trace_id']}-{match['span_id']}-{flags}"


def with_sentry_trace_from_w3c(scope: Scope) -> Scope:
    """`scope`, with a `sentry-trace` header derived from `traceparent` when the request
    has a valid `traceparent` and no `sentry-trace` (which wins when both are present)."""
    traceparent: bytes | None = None
    for name, value in scope["headers"]:
        if name == _SENTRY_TRACE_BYTES:
            return scope
        if name == _TRACEPARENT_BYTES and traceparent is None:
            traceparent = value
    if traceparent is None:
        return scope
    sentry_trace = sentry_trace_from_traceparent(traceparent.decode("latin-1"))
    if sentry_trace is None:
        return scope
    return {**scope, "headers": [*scope["headers"], (_SENTRY_TRACE_BYTES, sentry_trace.encode())]}


async def add_traceparent(request: httpx.Request) -> None:
    """httpx request hook: where sentry-sdk put `sentry-trace` (hosts matching
    TRACE_PROPAGATION_TARGETS only), put the same trace in `traceparent` too."""
    sentry_trace = request.headers.get(SENTRY_TRACE)
    if sentry_trace is None or TRACEPARENT in request.headers:
        return
    traceparent = traceparent_from_sentry_trace(sentry_trace)
    if traceparent is not None:
        request.headers[TRACEPARENT] = traceparent

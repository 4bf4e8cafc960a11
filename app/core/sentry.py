"""Sentry for the API and the worker: one function, an explicit list of integrations."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

import sentry_sdk
from sentry_sdk.integrations import DidNotEnable, Integration
from sentry_sdk.integrations.argv import ArgvIntegration
from sentry_sdk.integrations.atexit import AtexitIntegration
from sentry_sdk.integrations.dedupe import DedupeIntegration
from sentry_sdk.integrations.excepthook import ExcepthookIntegration
from sentry_sdk.integrations.httpx import HttpxIntegration
from sentry_sdk.integrations.logging import LoggingIntegration, ignore_logger
from sentry_sdk.integrations.modules import ModulesIntegration
from sentry_sdk.integrations.redis import RedisIntegration
from sentry_sdk.integrations.sqlalchemy import SqlalchemyIntegration
from sentry_sdk.integrations.stdlib import StdlibIntegration
from sentry_sdk.integrations.threading import ThreadingIntegration
from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber
from sentry_sdk.types import Event, Hint

from app.core.config import Settings
from app.core.logging import REDACTED, is_sensitive_key

Component = Literal["api", "worker"]

# Our problem handlers log each 5xx they report; that line must not become a second event.
HANDLED_ERRORS_LOGGER = "graphnode.errors"
# taskiq logs every task exception ("Exception found while executing function.") before
# the job runner has decided whether it is final: our runner reports it, once.
TASKIQ_RECEIVER_LOGGER = "taskiq.receiver.receiver"

# Liveness, readiness and documentation requests are never traced.
_UNTRACED_PATHS = re.compile(r"^/(healthz|readyz|docs|redoc|openapi\.json|problems)(/|$)")

_EXTRA_DENYLIST = ["jwt", "bearer", "x-api-key", "refresh_token", "access_token", "client_secret"]


def traces_sampler_for(rate: float) -> Any:
    """Sampler: untraced paths never; a propagated parent decision wins; else `rate`."""

    def traces_sampler(sampling_context: Mapping[str, Any]) -> float:
        asgi_scope = sampling_context.get("asgi_scope")
        if asgi_scope is not None and _UNTRACED_PATHS.match(asgi_scope.get("path", "")):
            return 0.0
        parent_sampled = sampling_context.get("parent_sampled")
        if parent_sampled is not None:
            return 1.0 if parent_sampled else 0.0
        return rate

    return traces_sampler


def _scrub_query_string(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, REDACTED if is_sensitive_key(k) else v) for k, v in pairs])


def _scrub_url(url: str) -> str:
    base, _sep, query = url.partition("?")
    return f"{base}?{_scrub_query_string(query)}" if query else url


def _scrub_http_data(data: Any) -> None:
    # Outgoing-request spans and breadcrumbs (httpx) carry the URL and query separately.
    if not isinstance(data, dict):
        return
    for key in ("http.query", "http.fragment"):
        if isinstance(data.get(key), str):
            data[key] = _scrub_query_string(data[key])
    if isinstance(data.get("url"), str):
        data["url"] = _scrub_url(data["url"])


def scrub_event(event: Event, hint: Hint) -> Event:
    """Remove credentials the default scrubber does not know about (query values)."""
    request: Any = event.get("request")
    if isinstance(request, dict):
        query = request.get("query_string")
        if isinstance(query, str) and query:
            request["query_string"] = _scrub_query_string(query)
        if isinstance(request.get("url"), str):
            request["url"] = _scrub_url(request["url"])
    spans: Any = event.get("spans") or []
    for span in spans:
        _scrub_http_data(span.get("data"))
        description = span.get("description")
        if isinstance(description, str):
            span["description"] = _scrub_url(description)
    breadcrumbs: Any = event.get("breadcrumbs")
    values = breadcrumbs.get("values", []) if isinstance(breadcrumbs, dict) else breadcrumbs
    for crumb in values or []:
        if isinstance(crumb, dict):
            _scrub_http_data(crumb.get("data"))
    return event


def _aiohttp_client_integration() -> list[Integration]:
    """aiohttp's, when it is installed: the SQS broker's aiobotocore makes every SQS call
    with aiohttp, so each becomes an `http.client` span (sentry-sdk's boto3 integration
    patches only botocore's synchronous client)."""
    try:
        from sentry_sdk.integrations.aiohttp import AioHttpIntegration
    except DidNotEnable:
        return []
    return [AioHttpIntegration()]


def init_sentry(settings: Settings, *, component: Component) -> bool:
    """Start the SDK if a DSN or Spotlight is configured; return whether it is on."""
    spotlight = settings.spotlight
    if settings.sentry_dsn is None and spotlight is False:
        return False

    options: dict[str, Any] = {}
    if settings.sentry_profile_session_sample_rate > 0:
        options["profile_session_sample_rate"] = settings.sentry_profile_session_sample_rate
        options["profile_lifecycle"] = "trace"

    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.environment.value,
        release=settings.release,
        # send_default_pii stays unset, which means off: sentry-sdk 2.75 deprecates passing
        # it, and its replacement (`data_collection`) switches the event scrubber off.
        max_request_body_size="never",
        # Frame locals include the raw ASGI scope (headers and query string as bytes), which
        # no key-based scrubber can clean: credentials would reach Sentry.
        include_local_variables=False,
        traces_sampler=traces_sampler_for(settings.sentry_traces_sample_rate),
        trace_propagation_targets=list(settings.trace_propagation_targets),
        spotlight=spotlight,
        event_scrubber=EventScrubber(denylist=DEFAULT_DENYLIST + _EXTRA_DENYLIST, recursive=True),
        before_send=scrub_event,
        before_send_transaction=scrub_event,
        # The integrations we use, named: the SDK's defaults (Stdlib gives every event its
        # `runtime` context), ours, and none of the auto-enabling ones, which would hook
        # whatever happens to be installed (asyncpg's would duplicate SQLAlchemy's query
        # spans). Without `default_integrations` no auto-enabling one is set up either.
        # HTTP requests get the SDK's ASGI middleware at the edge (app.core.sentry_http),
        # not the Starlette and FastAPI integrations: see there for why.
        default_integrations=False,
        integrations=[
            ArgvIntegration(),
            AtexitIntegration(),
            DedupeIntegration(),
            ExcepthookIntegration(),
            ModulesIntegration(),
            StdlibIntegration(),
            ThreadingIntegration(),
            LoggingIntegration(),
            HttpxIntegration(),
            SqlalchemyIntegration(),
            RedisIntegration(),
            *_aiohttp_client_integration(),
        ],
        # Release health for a server means one session per request, aggregated and sent
        # every minute: work on every request for a chart we do not use (errors carry the
        # release anyway).
        auto_session_tracking=False,
        **options,
    )
    # The SDK logs at DEBUG on every request and drops the records in a filter unless
    # `debug` is on (SENTRY_DEBUG=1); a level stops them before a record is even built.
    debug = sentry_sdk.get_client().options.get("debug")
    logging.getLogger("sentry_sdk.errors").setLevel(logging.NOTSET if debug else logging.WARNING)
    sentry_sdk.get_global_scope().set_tag("component", component)
    ignore_logger(HANDLED_ERRORS_LOGGER)
    ignore_logger(TASKIQ_RECEIVER_LOGGER)
    return True


def flush_sentry(timeout: float = 2.0) -> None:
    if sentry_sdk.get_client().is_active():
        sentry_sdk.flush(timeout=timeout)

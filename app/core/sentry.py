"""Sentry for the API and the worker: one function, an explicit list of integrations."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

import sentry_sdk
import structlog
from sentry_sdk.integrations import DidNotEnable, Integration
from sentry_sdk.integrations.argv import ArgvIntegration
from sentry_sdk.integrations.atexit import AtexitIntegration
from sentry_sdk.integrations.dedupe import DedupeIntegration
from sentry_sdk.integrations.excepthook import ExcepthookIntegration
from sentry_sdk.integrations.fastapi import FastApiIntegration
from sentry_sdk.integrations.httpx import HttpxIntegration
from sentry_sdk.integrations.logging import LoggingIntegration, ignore_logger
from sentry_sdk.integrations.modules import ModulesIntegration
from sentry_sdk.integrations.redis import RedisIntegration
from sentry_sdk.integrations.sqlalchemy import SqlalchemyIntegration
from sentry_sdk.integrations.starlette import StarletteIntegration
from sentry_sdk.integrations.stdlib import StdlibIntegration
from sentry_sdk.integrations.threading import ThreadingIntegration
from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber
from sentry_sdk.types import Event, Hint

from app.core.config import Settings
from app.core.logging import REDACTED, is_sensitive_key

Component = Literal["api", "worker"]

log = structlog.get_logger(__name__)

# Our problem handlers log each 5xx they report; that line must not become a second event.
HANDLED_ERRORS_LOGGER = "graphnode.errors"
# taskiq logs every task exception ("Exception found while executing function.") before
# the job runner has decided whether it is final: our runner reports it, once.
TASKIQ_RECEIVER_LOGGER = "taskiq.receiver.receiver"

# Liveness, readiness and documentation requests are never traced.
_UNTRACED_PATHS = re.compile(r"^/(healthz|readyz|docs|redoc|openapi\.json|problems)(/|$)")

# The integrations' options, given to both: they are two classes over one set of patches,
# and an option given to one only is ignored on some paths. Transactions are named by route
# template (`/v1/nodes/{node_id}`, source `route`). No status makes the integration capture
# an HTTPException itself: our problem handler reports every 5xx, and a capture of the
# same exception before it would make the handler's (whose event id goes into the body) a
# dropped duplicate. Middleware spans stay off: a span per middleware, per `receive` and
# per `send` on every request, for a stack of pure-ASGI middleware that does no I/O.
HTTP_INTEGRATION_OPTIONS: dict[str, Any] = {
    "transaction_style": "url",
    "failed_request_status_codes": set(),
    "middleware_spans": False,
}
# What an unhandled exception's event says produced it (the integrations' own mechanism).
HTTP_MECHANISM = StarletteIntegration.identifier

# The SDK's Spotlight client logs through this logger with a plain-text handler of its own.
_SPOTLIGHT_LOGGER = "spotlight"

# Query parameters whose values are not user content (kept in events; others are redacted).
_PLAIN_QUERY_PARAMETERS = frozenset({"limit", "cursor", "page", "direction", "depth"})

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
    """`query` with the values of credential-looking keys redacted; unchanged (not even
    re-encoded) when it has none."""
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(is_sensitive_key(key) for key, _ in pairs):
        return query
    return urlencode([(k, REDACTED if is_sensitive_key(k) else v) for k, v in pairs])


def _scrub_request_query(query: str) -> str:
    """An incoming request's query string with every value redacted but those of the
    parameters that only steer the response (paging): the rest (`q`, `tag`) is what the
    user searched for."""
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, v if k in _PLAIN_QUERY_PARAMETERS else REDACTED) for k, v in pairs])


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
    """Remove what the default scrubber does not know about: query values (search terms,
    credentials), and credentials in outgoing requests' URLs."""
    request: Any = event.get("request")
    if isinstance(request, dict):
        query = request.get("query_string")
        if isinstance(query, str) and query:
            request["query_string"] = _scrub_request_query(query)
        if isinstance(request.get("url"), str):
            request["url"] = _scrub_url(request["url"])
    spans: Any = event.get("spans") or []
    for span in spans:
        if not str(span.get("op", "")).startswith("http."):
            # SQL, Redis, queue and function spans: their text is kept exactly as it was
            # (a `?` placeholder is not a query string).
            continue
        _scrub_http_data(span.get("data"))
        description = span.get("description")
        if isinstance(description, str):
            span["description"] = _scrub_url(description)
    breadcrumbs: Any = event.get("breadcrumbs")
    values = breadcrumbs.get("values", []) if isinstance(breadcrumbs, dict) else breadcrumbs
    for crumb in values or []:
        if isinstance(crumb, dict) and crumb.get("category") in ("httplib", "http"):
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

    # The SDK's Spotlight set-up adds a plain-text handler to this logger and announces
    # itself through it, during init: silenced for that moment, announced by us below.
    spotlight_logger = logging.getLogger(_SPOTLIGHT_LOGGER)
    spotlight_logger.disabled = True

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
        default_integrations=False,
        integrations=[
            ArgvIntegration(),
            AtexitIntegration(),
            DedupeIntegration(),
            ExcepthookIntegration(),
            ModulesIntegration(),
            StdlibIntegration(),
            ThreadingIntegration(),
            StarletteIntegration(**HTTP_INTEGRATION_OPTIONS),
            FastApiIntegration(**HTTP_INTEGRATION_OPTIONS),
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
    # Spotlight's later lines (failed sends) go through our handler, not its own.
    spotlight_logger.handlers.clear()
    spotlight_logger.propagate = True
    spotlight_logger.disabled = False
    spotlight_url = sentry_sdk.get_client().options.get("spotlight")
    if spotlight_url:
        log.info("sentry.spotlight_enabled", url=spotlight_url)
    sentry_sdk.get_global_scope().set_tag("component", component)
    ignore_logger(HANDLED_ERRORS_LOGGER)
    ignore_logger(TASKIQ_RECEIVER_LOGGER)
    return True


def flush_sentry(timeout: float = 2.0) -> None:
    if sentry_sdk.get_client().is_active():
        sentry_sdk.flush(timeout=timeout)

"""Sentry for HTTP requests: the SDK's own ASGI middleware, at the edge of the app.

sentry-sdk's Starlette and FastAPI integrations install this same `SentryAsgiMiddleware`
(isolation scope per request, trace continued from `sentry-trace`/`baggage`, transaction,
request data on events, status from the response) and also wrap every middleware class,
the exception middleware and every request handler. With our options those wrappers run
on each request and add nothing: middleware spans are off, their HTTPException capture is
off (our problem handler reports every 5xx), request bodies are never sent, and the
middleware itself names the transaction by the matched route's template
(`/v1/nodes/{node_id}`, source `route`) from `scope["route"]` when an event is prepared.
They cost 17 % of the instructions of an errors-only request (980k down to 815k,
`python -m bench.instructions`).
"""

from __future__ import annotations

from sentry_sdk.integrations.asgi import SentryAsgiMiddleware
from starlette.middleware import Middleware

# The values the Starlette integration gives the middleware, so events and spans look the
# same as with it (the SDK warns about a bare "asgi" mechanism in a Starlette app).
MECHANISM_TYPE = "starlette"
SPAN_ORIGIN = "auto.http.starlette"


def sentry_middleware() -> Middleware:
    """The outermost middleware of the app when Sentry is on."""
    return Middleware(
        SentryAsgiMiddleware,
        transaction_style="url",
        mechanism_type=MECHANISM_TYPE,
        span_origin=SPAN_ORIGIN,
    )

"""Sentry for HTTP requests: the SDK's own ASGI middleware, at the edge of the app.

sentry-sdk's Starlette and FastAPI integrations install this same `SentryAsgiMiddleware`
(isolation scope per request, trace continued from `sentry-trace`/`baggage`, transaction,
request data on events, status from the response) and also wrap every middleware class,
the exception middleware and every request handler. With our options the wrappers run
on each request for nothing but one thing: middleware spans are off, their HTTPException
capture is off (our problem handler reports every 5xx), request bodies are never sent.
The one thing is naming the transaction by its route template as soon as the route is
known, which `TracedRoute` does. The wrappers were 17 % of the instructions of an
errors-only request (983k down to 828k without them, `python -m bench.instructions`);
`TracedRoute` adds back about 11k.

All endpoints are `async def`. The FastAPI integration moved a profiled transaction's
active thread to the thread pool for sync endpoints; nothing does that here.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import sentry_sdk
from fastapi.routing import APIRoute
from sentry_sdk.integrations._asgi_common import _RootPathInPath
from sentry_sdk.integrations.asgi import SentryAsgiMiddleware
from sentry_sdk.tracing import TransactionSource
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from app.core.middleware import route_template

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
        # As the Starlette integration passes for Starlette >= 0.33: `path` may already
        # include `root_path` (behind a proxy with `--root-path`), and it is not doubled.
        root_path_in_path=_RootPathInPath.EITHER,
    )


class TracedRoute(APIRoute):
    """An APIRoute that names the request's Sentry transaction by its template (source
    `route`) once the route has matched, before the endpoint runs. Every router uses it.

    The middleware alone renames only the event, when it is sent: the live transaction
    would keep the URL (source `url`), which the trace's dynamic sampling context leaves
    out, so the baggage sent to other services and to jobs, and Sentry's sampling rules by
    transaction, would not see the route. (An app-wide dependency did the same for 78k
    instructions per request; this is one call.)
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def named(request: Request) -> Response:
            if sentry_sdk.get_client().is_active():
                template = route_template(request.scope)
                if template is not None:
                    sentry_sdk.get_current_scope().set_transaction_name(
                        template, source=TransactionSource.ROUTE
                    )
            return await handler(request)

        return named

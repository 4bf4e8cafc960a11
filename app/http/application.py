"""The application class: FastAPI with edge middleware outside Starlette's error handling."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.trace_context import with_sentry_trace_from_w3c
from app.http.openapi import add_problem_responses


class GraphNodeAPI(FastAPI):
    """FastAPI with edge middleware *outside* Starlette's ServerErrorMiddleware.

    Starlette runs the 500 handler in ServerErrorMiddleware, outside every user middleware:
    there a context middleware's ContextVar is already reset and CORS headers are missing.
    Wrapping the whole stack instead gives unhandled 500s the request context, the
    `X-Request-ID` and CORS headers and the access-log line, like every other response.
    """

    edge_middleware: Sequence[Middleware] = ()
    # With Sentry on: a request that brings only W3C `traceparent` continues its trace.
    reads_w3c_trace_context = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # Before Starlette's __call__, which the Sentry integration wraps in the
            # middleware that reads the incoming trace headers.
            if self.reads_w3c_trace_context:
                scope = with_sentry_trace_from_w3c(scope)
        elif scope["type"] == "lifespan":
            send = self._without_startup_traceback(send)
        await super().__call__(scope, receive, send)

    def _without_startup_traceback(self, send: Send) -> Send:
        """Starlette reports a failed start-up with its traceback, which uvicorn logs: when
        the lifespan has printed the one line that says what failed, send that instead."""

        async def send_message(message: Message) -> None:
            failure = getattr(self.state, "startup_failure", None)
            if message["type"] == "lifespan.startup.failed" and failure:
                message = {"type": "lifespan.startup.failed", "message": ""}
            await send(message)

        return send_message

    def build_middleware_stack(self) -> ASGIApp:
        app = super().build_middleware_stack()
        for cls, args, kwargs in reversed(self.edge_middleware):
            app = cls(app, *args, **kwargs)
        return app

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            self.openapi_schema = add_problem_responses(super().openapi())
        return self.openapi_schema

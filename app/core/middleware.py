"""Pure-ASGI request-context middleware: ids, the access log and the `X-Request-ID` echo."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.context import (
    SCOPE_STATE_KEY,
    RequestContext,
    bind,
    new_correlation_id,
    unbind,
    valid_correlation_id,
)
from app.core.logging import log_access

REQUEST_ID_HEADER = "x-request-id"
REQUEST_ID_HEADER_BYTES = b"x-request-id"
CORRELATION_ID_HEADER_BYTES = b"x-correlation-id"
# nginx's convention for "the client went away before the response was complete".
CLIENT_CLOSED_REQUEST = 499
# scope["state"] flag: the client disconnected, so a failure to send is not our error.
CLIENT_GONE_STATE_KEY = "client_gone"


def route_template(scope: Scope) -> str | None:
    """The matched route's path template (`/v1/nodes/{node_id}`), None if nothing matched."""
    effective = scope.get("fastapi", {}).get("effective_route_context")
    path = getattr(effective, "path", None) or getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else None


def _with_header(headers: Any, name: bytes, value: bytes) -> list[tuple[bytes, bytes]]:
    """`headers` with `name` set to `value` (earlier values dropped): MutableHeaders'
    semantics for one lower-case name, without building a Headers object per response."""
    updated = [header for header in headers if header[0] != name]
    updated.append((name, value))
    return updated


def _incoming_correlation_id(scope: Scope) -> str | None:
    # X-Request-ID wins over its alias; the first occurrence of a header wins.
    alias: bytes | None = None
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER_BYTES:
            return valid_correlation_id(value.decode("latin-1"))
        if name == CORRELATION_ID_HEADER_BYTES and alias is None:
            alias = value
    return valid_correlation_id(alias.decode("latin-1")) if alias is not None else None


class RequestContextMiddleware:
    """Binds a RequestContext for each HTTP request and writes one access-log line.

    Installed outside Starlette's ServerErrorMiddleware (see `app.main`), so unhandled 500s
    get the context, the header and the access line like any other response. An exception
    that arrives after the response was completely sent has already been handled and
    reported by the 500 handler, so it stops here; one that arrives mid-response is
    re-raised so the server aborts the connection.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started_at = time.perf_counter()
        correlation_id = _incoming_correlation_id(scope) or new_correlation_id()
        request_id = correlation_id.encode("latin-1")  # allow-listed ASCII
        context = RequestContext(correlation_id=correlation_id, source="http")
        state = scope.setdefault("state", {})
        state[SCOPE_STATE_KEY] = context
        token = bind(context)
        is_head = scope["method"] == "HEAD"

        status: int | None = None
        response_complete = False
        disconnected = False

        async def receive_tracking_disconnect() -> Message:
            nonlocal disconnected
            message = await receive()
            if message["type"] == "http.disconnect" and not response_complete:
                disconnected = state[CLIENT_GONE_STATE_KEY] = True
            return message

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, response_complete, disconnected
            message_type = message["type"]
            if message_type == "http.response.start":
                status = message["status"]
                message["headers"] = _with_header(
                    message.get("headers", ()), REQUEST_ID_HEADER_BYTES, request_id
                )
            elif is_head and message_type == "http.response.body" and message.get("body"):
                # Same headers as GET (Content-Length included), never a body: whatever the
                # server does with it.
                message = {**message, "body": b""}
            try:
                await send(message)
            except OSError:
                disconnected = state[CLIENT_GONE_STATE_KEY] = True
                raise
            if message_type == "http.response.body" and not message.get("more_body"):
                response_complete = True

        try:
            await self.app(scope, receive_tracking_disconnect, send_with_request_id)
        except Exception:
            # Handled and reported already (complete response), or the client left: nothing
            # more to do. Otherwise the response broke off mid-way: let the server abort it.
            if not (response_complete or disconnected):
                raise
        finally:
            if disconnected and not response_complete:
                status = CLIENT_CLOSED_REQUEST
            _log_access(scope, status, started_at, disconnected)
            unbind(token)


def _log_access(
    scope: Scope,
    status: int | None,
    started_at: float,
    disconnected: bool,
) -> None:
    fields: dict[str, Any] = {
        "method": scope["method"],
        "route": route_template(scope),
        "path": scope["path"],
        "status": status if status is not None else 500,
        "duration_ms": round((time.perf_counter() - started_at) * 1000, 3),
        "client": scope["client"][0] if scope.get("client") else None,
    }
    if disconnected:
        fields["disconnected"] = True
    log_access(fields)

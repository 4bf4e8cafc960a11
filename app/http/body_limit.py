"""Refuse a request whose declared `Content-Length` exceeds MAX_REQUEST_BODY_BYTES.

A body sent without a length (chunked) is counted while it is read by FastAPI's own
`max_body_size` (Starlette's RequestBodyLimitMiddleware), which stops reading at the
limit and raises a 413 HTTPException that the problem handlers answer. That middleware
refuses a declared length only once the route reads the body or starts its response,
so a route that never reads its body would still run: this one answers first, before
anything runs or a byte of the body is read.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors.exceptions import PayloadTooLarge
from app.http.problems import handle_app_error


def declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class ContentLengthLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = declared_length(scope)
            if length is not None and length > self.max_bytes:
                error = PayloadTooLarge(
                    f"The request body has {length} bytes; the limit is {self.max_bytes}.",
                    max_bytes=self.max_bytes,
                )
                response = await handle_app_error(Request(scope), error)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

"""HEAD on every GET route, without a HEAD operation per route in the OpenAPI schema."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class HeadAsGetMiddleware:
    """Routes a HEAD request as the GET it asks about (RFC 9110 §9.3.2: the same status
    and header fields). The request-context middleware, outside, sends no body for HEAD,
    whatever the route wrote, and keeps its `Content-Length`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        # The scope itself, not a copy: the router records the matched route in it, which
        # the access log reads afterwards; the method is put back for that log too.
        scope["method"] = "GET"
        try:
            await self.app(scope, receive, send)
        finally:
            scope["method"] = "HEAD"

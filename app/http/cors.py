"""CORS: the headers other origins may read, and a rejected preflight as a Problem Details
response like every other error."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from app.core.middleware import REQUEST_ID_HEADER
from app.errors.exceptions import BadRequest
from app.http.problems import problem_response

# The response headers a browser script on another origin may read.
EXPOSED_HEADERS = (
    REQUEST_ID_HEADER,
    "ETag",
    "Location",
    "Retry-After",
    "RateLimit",
    "RateLimit-Policy",
    "Accept-Post",
    "Accept-Patch",
    "Link",
)


class ProblemCORSMiddleware(CORSMiddleware):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            headers = Headers(scope=scope)
            if "origin" in headers and "access-control-request-method" in headers:
                response = self.preflight_response(request_headers=headers)
                if response.status_code == BadRequest.status_code:
                    # Starlette's text names what was refused (origin, method, headers).
                    refused = BadRequest(bytes(response.body).decode(), headers={"Vary": "Origin"})
                    response = problem_response(Request(scope), refused)
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

"""install_problem_handlers(app): every error, from any layer, as Problem Details.

Each handler turns what it caught into an AppError and `problem_from` builds the body.

All handlers are `async` so they run on the event loop in the request's context (a sync
handler would run in the thread pool, slower and outside the context Sentry dedupes in).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Match

from app.core.context import SCOPE_STATE_KEY, RequestContext, current
from app.core.logging import mark_reported
from app.core.middleware import CLIENT_CLOSED_REQUEST, CLIENT_GONE_STATE_KEY, route_template
from app.core.sentry import HANDLED_ERRORS_LOGGER, HTTP_MECHANISM
from app.core.tracking import error_tracking
from app.errors.exceptions import (
    AppError,
    InternalError,
    PayloadTooLarge,
    ValidationFailed,
    error_for_status,
)
from app.errors.problem import INTERNAL_ERROR_DETAIL, ProblemResponse, problem_from

log = structlog.get_logger(HANDLED_ERRORS_LOGGER)

_BODYLESS_STATUSES = frozenset({204, 205, 304})
_VALIDATION_LOCATIONS = {"query": "parameter", "path": "parameter", "cookie": "parameter"}


def _request_context(request: Request) -> RequestContext | None:
    # The ContextVar is the normal source; scope["state"] also works after it was reset.
    context = current()
    if context is None:
        state = request.scope.get("state") or {}
        context = state.get(SCOPE_STATE_KEY)
    return context


def problem_response(request: Request, exc: AppError, *, event_id: str | None = None) -> Response:
    """The problem+json response for `exc` (no body where HTTP forbids one)."""
    status = exc.status_code
    if status < 200 or status in _BODYLESS_STATUSES:
        return Response(status_code=status, headers=exc.headers)
    context = _request_context(request)
    body = problem_from(
        exc,
        # scope["path"], not request.url: building the URL decodes the query string and
        # fails on bytes that are not UTF-8.
        instance=request.scope["path"],
        correlation_id=context.correlation_id if context else None,
        event_id=event_id,
    )
    return ProblemResponse(body, status_code=status, headers=exc.headers)


def _report(
    request: Request,
    exc: BaseException,
    status: int,
    problem_type: str,
    *,
    handled: bool = True,
) -> str | None:
    """Report one server error: one Sentry event, one error log line with its event id.

    `handled=False` for an exception nothing mapped (Sentry's "unhandled", with the
    integration's mechanism); a mapped failure (an AppError) carries its cause: the
    exception chain and its `diagnostics` as the `cause` context.
    """
    mark_reported(exc)
    event_id = error_tracking.capture_exception(
        exc,
        {
            "endpoint": route_template(request.scope),
            "method": request.method,
            "problem_type": problem_type,
            "status": status,
        },
        handled=handled,
        mechanism=HTTP_MECHANISM,
    )
    log.error(
        "request.failed",
        status=status,
        problem_type=problem_type,
        error_type=type(exc).__name__,
        sentry_event_id=event_id,
        exc_info=exc,
    )
    return event_id


async def handle_app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    event_id = None
    if exc.status_code >= 500 and exc.report:
        event_id = _report(request, exc, exc.status_code, exc.problem_type.slug)
    elif exc.status_code >= 500:
        log.warning("request.failed", status=exc.status_code, problem_type=exc.problem_type.slug)
    return problem_response(request, exc, event_id=event_id)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path.

    Starlette's own `Allow` lists only the first route whose path matched, so
    `POST /v1/nodes` and `GET /v1/nodes` in separate routes would advertise one of them.
    """
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    # HEAD is served wherever GET is (app.http.head), without a route of its own.
    if "GET" in allowed and "HEAD" not in allowed:
        allowed.insert(allowed.index("GET") + 1, "HEAD")
    return allowed


def _as_app_error(request: Request, exc: StarletteHTTPException) -> AppError:
    """The AppError a framework's HTTPException stands for, with its status and headers."""
    status = exc.status_code
    headers = exc.headers
    if status == 405 and "app" in request.scope:
        headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
    # A 500 never explains itself to the client; other statuses were written for it.
    if status == 500:
        detail: str | None = INTERNAL_ERROR_DETAIL
    else:
        detail = exc.detail if isinstance(exc.detail, str) else None
    error = error_for_status(status, detail, headers=headers)
    max_body_size = request.scope.get(MAX_BODY_SIZE_SCOPE_KEY)
    if isinstance(error, PayloadTooLarge) and isinstance(max_body_size, int):
        # The body limit stopped reading a body (chunked, or longer than declared): the
        # same problem as a declared length over the limit gets.
        error.detail = f"The request body exceeds the limit of {max_body_size} bytes."
        error.extensions = {"max_bytes": max_body_size}
    elif isinstance(error, ValidationFailed):
        # A validation problem always has its `errors` member (the schema requires it).
        error.extensions = {"errors": []}
    return error


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    error = _as_app_error(request, exc)
    event_id = None
    if error.status_code >= 500:
        event_id = _report(request, exc, error.status_code, error.problem_type.slug)
    return problem_response(request, error, event_id=event_id)


def json_pointer(location: Sequence[int | str]) -> str:
    """RFC 6901 pointer, in the `#/...` fragment form RFC 9457's examples use."""
    parts = (str(part).replace("~", "~0").replace("/", "~1") for part in location)
    return "#" + "".join(f"/{part}" for part in parts)


def _invalid_params(errors: Sequence[Any]) -> list[dict[str, str]]:
    invalid = []
    for error in errors:
        location = tuple(error.get("loc", ()))
        where = location[0] if location else "body"
        item = {"detail": str(error.get("msg", "Invalid value"))}
        if where == "body":
            if error.get("type") == "json_invalid":
                item["pointer"] = "#"
            else:
                item["pointer"] = json_pointer(location[1:])
        elif where == "header":
            item["header"] = str(location[1]) if len(location) > 1 else ""
        else:
            name = ".".join(str(part) for part in location[1:])
            item[_VALIDATION_LOCATIONS.get(str(where), "parameter")] = name
        invalid.append(item)
    return invalid


async def handle_request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    invalid = _invalid_params(exc.errors())
    count = len(invalid)
    error = ValidationFailed(
        f"The request has {count} invalid value{'s' if count != 1 else ''}.", errors=invalid
    )
    return problem_response(request, error)


async def handle_unhandled(request: Request, exc: Exception) -> Response:
    """Starlette's ServerErrorMiddleware handler: anything no inner handler took.

    Errors raised in middleware (outside the exception middleware) arrive here too, so
    AppError and HTTPException keep their status and headers on this path as well.
    """
    if isinstance(exc, AppError):
        return await handle_app_error(request, exc)
    if isinstance(exc, StarletteHTTPException):
        return await handle_http_exception(request, exc)
    if isinstance(exc, ClientDisconnect) or (request.scope.get("state") or {}).get(
        CLIENT_GONE_STATE_KEY
    ):
        # Nobody is left to answer and nothing failed on our side: no event, no body.
        log.info("request.client_disconnected")
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    # ResponseValidationError lands here too: a route broke its own response model.
    event_id = _report(request, exc, 500, InternalError.problem_type.slug, handled=False)
    return problem_response(request, InternalError(INTERNAL_ERROR_DETAIL), event_id=event_id)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, handle_app_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
    app.add_exception_handler(RequestValidationError, handle_request_validation)
    app.add_exception_handler(Exception, handle_unhandled)

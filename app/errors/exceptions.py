"""The AppError hierarchy: each class is one problem type (status, slug, title, docs).

Routers, dependencies, services and middleware only raise these; `app.errors.problem`
turns them into Problem Details (the handlers at the HTTP edge, `app.http.problems`, send
them). The class docstring is the type's documentation, served at `/problems/<slug>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.errors import catalog

# The first class declared for a status stands for it (e.g. 404 -> NotFound).
_by_status: dict[int, type[AppError]] = {}


class AppError(Exception):
    """Base class: an error with a meaning the client can act on."""

    # Set on each class by its declaration (`slug=`, `status=`, `title=`).
    problem_type: catalog.ProblemType
    status_code: int

    def __init_subclass__(
        cls, *, slug: str | None = None, status: int | None = None, title: str | None = None
    ) -> None:
        super().__init_subclass__()
        if slug is None:
            return
        if status is None or title is None:
            raise TypeError(f"{cls.__name__} declares slug {slug!r} without status and title")
        cls.status_code = status
        cls.problem_type = catalog.register(slug, title=title, status=status, doc=cls.__doc__)
        _by_status.setdefault(status, cls)

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        report: bool = True,
        diagnostics: Mapping[str, Any] | None = None,
        **extensions: Any,
    ) -> None:
        """`extensions` become members of the problem body; `report=False` keeps an
        expected 5xx (e.g. a failed readiness probe) out of Sentry. `diagnostics` are
        facts about the cause for the operator (the Sentry event's `cause` context: an
        upstream's status, the kind of timeout), never sent to the client; they must hold
        nothing the user sent."""
        self.detail = detail if detail is not None else self.problem_type.title
        self.headers: dict[str, str] = dict(headers or {})
        self.report = report
        self.diagnostics: dict[str, Any] = dict(diagnostics or {})
        self.extensions = extensions
        super().__init__(self.detail)


class BadRequest(AppError, slug="bad-request", status=400, title="Bad request"):
    """The request is malformed in a way the schema cannot express. Fix it before retrying."""


class Unauthorized(AppError, slug="unauthorized", status=401, title="Authentication required"):
    """The request has no valid bearer token: it is missing, malformed, expired or signed
    with another key. Obtain a new token and send it as `Authorization: Bearer <token>`."""

    def __init__(
        self, detail: str | None = None, *, error: str | None = "invalid_token", **extensions: Any
    ) -> None:
        challenge = 'Bearer realm="graphnode-api"'
        if error is not None:
            challenge += f', error="{error}"'
        super().__init__(detail, headers={"WWW-Authenticate": challenge}, **extensions)


class Forbidden(AppError, slug="forbidden", status=403, title="Forbidden"):
    """The caller is authenticated but may not perform this operation."""


class NotFound(AppError, slug="not-found", status=404, title="Resource not found"):
    """Nothing exists at this URI for the caller. Resources that belong to another user are
    reported the same way, so their existence is never revealed."""


class MethodNotAllowed(AppError, slug="method-not-allowed", status=405, title="Method not allowed"):
    """The resource exists but does not support this HTTP method. The `Allow` header lists
    the methods it does support."""


class NotAcceptable(AppError, slug="not-acceptable", status=406, title="Not acceptable"):
    """The `Accept` header admits none of the media types this operation answers with
    (`application/json`, and `application/problem+json` for problems). Accept one of them,
    or leave `Accept` out."""


class Conflict(AppError, slug="conflict", status=409, title="Conflict"):
    """The request conflicts with the current state of the resource, for example it would
    create a duplicate. Fetch the current state before retrying."""


class InvalidIdempotencyKey(
    AppError, slug="invalid-idempotency-key", status=400, title="Invalid Idempotency-Key"
):
    """The `Idempotency-Key` header is not a key this API accepts: a Structured Field string
    (`"…"`) or the same characters unquoted, 1-255 printable ASCII characters without `"`
    or `\\`. A UUID is a good key."""


class JobNotCancellable(
    AppError, slug="job-not-cancellable", status=409, title="Job cannot be cancelled"
):
    """Only a queued job can be cancelled; this one is running or has finished. The
    `job_status` member says which."""


class PreconditionFailed(
    AppError, slug="precondition-failed", status=412, title="Precondition failed"
):
    """The `If-Match` tag no longer matches the resource: someone changed it since you read
    it. Fetch it again, reapply your change and retry with the new `ETag`."""


class PayloadTooLarge(AppError, slug="payload-too-large", status=413, title="Payload too large"):
    """The request body exceeds the documented limit for this operation, or the limit on
    every request body (`max_bytes`, when given). Send less data."""


class UnsupportedMediaType(
    AppError, slug="unsupported-media-type", status=415, title="Unsupported media type"
):
    """The request body is not in a media type this operation reads. Send JSON with
    `Content-Type: application/json`; the `Accept-Post` or `Accept-Patch` header names the
    types the operation accepts."""


class ValidationFailed(AppError, slug="validation-error", status=422, title="Validation failed"):
    """The request did not match the operation's schema. The `errors` array lists each
    problem with a `detail` and where it is: a JSON Pointer `pointer` into the body, or the
    name of the `parameter` or `header`."""


class IdempotencyKeyReused(
    AppError, slug="idempotency-key-reused", status=422, title="Idempotency key reused"
):
    """This `Idempotency-Key` was already used for a different request (another body or
    another operation). Use a new key for a new request; a key identifies one request."""


class _RetryableError(AppError):
    def __init__(
        self,
        detail: str | None = None,
        *,
        retry_after: int | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        merged = dict(headers or {})
        if retry_after is not None:
            merged["Retry-After"] = str(max(0, int(retry_after)))
        super().__init__(detail, headers=merged, **extensions)


class IdempotencyKeyInUse(
    _RetryableError, slug="idempotency-key-in-use", status=409, title="Idempotency key in use"
):
    """A request with this `Idempotency-Key` is still being processed. Retry after the
    number of seconds in `Retry-After`: you will then get that request's response."""


class RateLimited(_RetryableError, slug="rate-limited", status=429, title="Too many requests"):
    """The caller sent too many requests. Wait for the number of seconds in `Retry-After`
    before retrying."""


class InternalError(AppError, slug="internal-error", status=500, title="Internal server error"):
    """The server failed unexpectedly. The failure has been reported; quote the
    `correlation_id` (and `event_id`) when you contact support. Retrying may help."""


class UpstreamError(_RetryableError, slug="upstream-error", status=502, title="Upstream error"):
    """A service this API depends on failed or answered with something unusable. Retrying
    later may help."""


class ServiceUnavailable(
    _RetryableError, slug="service-unavailable", status=503, title="Service unavailable"
):
    """The service cannot handle the request right now (a dependency is down or overloaded).
    Retry after the number of seconds in `Retry-After` when present."""


class UpstreamTimeout(
    _RetryableError, slug="upstream-timeout", status=504, title="Upstream timeout"
):
    """A service this API depends on did not answer in time. Retrying later may help."""


class HTTPError(AppError):
    """An HTTP error status no problem type is declared for: the generic `http-error`,
    whose title is the status's reason phrase."""

    def __init__(self, status: int, detail: str | None = None, **kwargs: Any) -> None:
        # Per instance: the class stands for no one status.
        self.problem_type = catalog.HTTP_ERROR
        self.status_code = status
        super().__init__(detail if detail is not None else catalog.status_phrase(status), **kwargs)


def error_for_status(
    status: int, detail: str | None = None, *, headers: Mapping[str, str] | None = None
) -> AppError:
    """The AppError standing for an HTTP status (a framework's HTTPException, say): the
    class declared for it, else an `HTTPError`. Its headers are `headers`, no others."""
    cls = _by_status.get(status)
    error = HTTPError(status, detail) if cls is None else cls(detail)
    error.headers = dict(headers or {})
    return error

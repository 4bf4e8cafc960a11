"""The RFC 9457 Problem Details body: built from an exception, its schema, its response."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask
from starlette.responses import Response

from app.errors.exceptions import AppError, InternalError

PROBLEM_MEDIA_TYPE = "application/problem+json"
INTERNAL_ERROR_DETAIL = "The server failed to handle this request. It has been reported."


def problem_from(
    exc: BaseException,
    *,
    instance: str,
    correlation_id: str | None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """The problem body for `exc`, for an HTTP response or a failed job alike.

    An `AppError` gives its type, detail and extension members; anything else is an
    `internal-error` whose detail says nothing about the exception.
    """
    if not isinstance(exc, AppError):
        exc = InternalError(INTERNAL_ERROR_DETAIL)
    problem_type = exc.problem_type
    body: dict[str, Any] = dict(exc.extensions)
    body.update(
        type=problem_type.uri,
        title=problem_type.title_for(exc.status_code),
        status=exc.status_code,
        detail=exc.detail,
        instance=instance,
        correlation_id=correlation_id,
    )
    if event_id is not None:
        body["event_id"] = event_id
    return body


class Problem(BaseModel):
    """An RFC 9457 problem. Extension members may appear beside the standard ones."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="URI reference of the problem type; it serves its docs.")
    title: str = Field(description="Short summary of the problem type.")
    status: int = Field(description="The HTTP status code of this response.")
    detail: str = Field(description="Explanation specific to this occurrence.")
    instance: str = Field(description="The request path this problem occurred on.")
    correlation_id: str = Field(description="Identifies this request in logs and Sentry.")
    event_id: str | None = Field(
        default=None, description="The Sentry event id; present on reported 5xx problems."
    )


class InvalidParam(BaseModel):
    detail: str = Field(description="What is wrong with this value.")
    pointer: str | None = Field(
        default=None, description="JSON Pointer (RFC 6901) to the body member, as `#/a/0/b`."
    )
    parameter: str | None = Field(default=None, description="Name of a query/path parameter.")
    header: str | None = Field(default=None, description="Name of a request header.")


class ValidationProblem(Problem):
    errors: list[InvalidParam] = Field(description="Every validation error in the request.")


class ProblemResponse(Response):
    media_type = PROBLEM_MEDIA_TYPE

    def __init__(
        self,
        content: Mapping[str, Any],
        status_code: int,
        headers: Mapping[str, str] | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        super().__init__(content, status_code, headers, self.media_type, background)

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)

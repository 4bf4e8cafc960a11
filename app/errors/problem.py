"""The RFC 9457 Problem Details body: its OpenAPI schema and its HTTP response."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask
from starlette.responses import Response

PROBLEM_MEDIA_TYPE = "application/problem+json"


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

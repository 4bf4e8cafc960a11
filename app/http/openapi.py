"""Documents Problem Details responses on every operation of an OpenAPI schema."""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from app.errors.problem import PROBLEM_MEDIA_TYPE, Problem, ValidationProblem

_REF = "#/components/schemas/{model}"
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _problem_content(model: str) -> dict[str, Any]:
    return {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _REF.format(model=model)}}}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route that documents specific problem statuses (404, 409 ...)."""
    return {
        status: {"description": "Problem Details", "content": _problem_content("Problem")}
        for status in statuses
    }


def add_problem_responses(schema: dict[str, Any]) -> dict[str, Any]:
    """Register the Problem schemas and declare 422/4XX/5XX problem responses everywhere.

    FastAPI's own 422 (`HTTPValidationError`, `application/json`) is replaced, because our
    handler answers validation errors with a ValidationProblem as `application/problem+json`.
    """
    _, definitions = models_json_schema(
        [(Problem, "serialization"), (ValidationProblem, "serialization")],
        ref_template=_REF,
    )
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(definitions.get("$defs", {}))
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)

    for path_item in schema.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in _HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status, response in responses.items():
                if status[0] in "45":
                    model = "ValidationProblem" if status == "422" else "Problem"
                    response["content"] = _problem_content(model)
            responses.setdefault(
                "4XX", {"description": "Client error", "content": _problem_content("Problem")}
            )
            responses.setdefault(
                "5XX", {"description": "Server error", "content": _problem_content("Problem")}
            )
    return schema

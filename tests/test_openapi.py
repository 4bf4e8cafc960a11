from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

import schemathesis
from httpx import AsyncClient
from schemathesis.core.parameters import ParameterLocation

from app.core.config import Settings
from app.main import create_app
from tests.conftest import auth

PROBLEM = "application/problem+json"
_METHODS = {"get", "put", "post", "delete", "patch"}


async def _schema(client: AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in _METHODS
    ]


async def test_problem_schemas_are_components(client: AsyncClient) -> None:
    schemas = (await _schema(client))["components"]["schemas"]

    assert {"Problem", "ValidationProblem", "InvalidParam"} <= schemas.keys()
    assert {"type", "title", "status", "detail", "instance", "correlation_id"} <= set(
        schemas["Problem"]["required"]
    )
    assert "HTTPValidationError" not in schemas


async def test_every_operation_documents_problem_responses(client: AsyncClient) -> None:
    operations = _operations(await _schema(client))
    assert operations

    for path, method, operation in operations:
        responses = operation["responses"]
        for status in ("4XX", "5XX"):
            content = responses[status]["content"]
            assert list(content) == [PROBLEM], (path, method, status)
            assert content[PROBLEM]["schema"]["$ref"] == "#/components/schemas/Problem"
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                assert list(response["content"]) == [PROBLEM], (path, method, status)


async def test_validation_errors_are_documented_as_validation_problems(
    client: AsyncClient,
) -> None:
    schema = await _schema(client)
    operation = schema["paths"]["/problems/{slug}"]["get"]

    ref = operation["responses"]["422"]["content"][PROBLEM]["schema"]["$ref"]
    assert ref == "#/components/schemas/ValidationProblem"


_DATABASE_DIR = tempfile.TemporaryDirectory(prefix="graphnode-schemathesis-")


def _schemathesis_app() -> Any:
    database = Path(_DATABASE_DIR.name) / "api.db"
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=f"sqlite+aiosqlite:///{database}", log_format="json"
    )
    return create_app(settings)


# Schemathesis runs the app in process, lifespan (and so migrations) included.
schema = schemathesis.openapi.from_asgi("/openapi.json", _schemathesis_app())


@schema.parametrize()
def test_api_conforms_to_its_schema(case: Any) -> None:
    # Schemathesis generates the bearer header from the security scheme; swap its random
    # value for a real token, and leave it out where the case omits it on purpose.
    header_is_negative = case.meta is not None and case.meta.is_negative_at(
        ParameterLocation.HEADER
    )
    if case.headers and "Authorization" in case.headers and not header_is_negative:
        case.headers["Authorization"] = auth("schemathesis")["Authorization"]
    # A key names one request, but Schemathesis reuses generated values across cases (and
    # the documented example everywhere): a second body with it is rightly a 422.
    if case.headers and "Idempotency-Key" in case.headers and not header_is_negative:
        case.headers["Idempotency-Key"] = f'"{uuid.uuid4()}"'
    case.call_and_validate()

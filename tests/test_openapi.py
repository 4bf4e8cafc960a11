from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

import schemathesis
from httpx import AsyncClient
from schemathesis.core.parameters import ParameterLocation

from app.core.config import LogFormat, Settings
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
    # Thousands of generated requests from one caller: limits it cannot reach, so every
    # check sees the operation's own answer (429s are tested in tests/core/test_rate_limit).
    settings = Settings(
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{database}",
        log_format=LogFormat.JSON,
        rate_limit_default="1000000/minute",
        rate_limit_ai="1000000/minute",
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


async def test_request_bodies_and_main_responses_have_examples(client: AsyncClient) -> None:
    schema = await _schema(client)
    components = schema["components"]["schemas"]

    def named(ref_holder: dict[str, Any]) -> str | None:
        ref = ref_holder.get("$ref")
        return ref.rsplit("/", 1)[-1] if ref else None

    models: set[str] = set()
    for _, _, operation in _operations(schema):
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body and (name := named(body["schema"])):
            models.add(name)
        for status, response in operation["responses"].items():
            content = response.get("content", {}).get("application/json")
            if status.startswith("2") and content and (name := named(content["schema"])):
                models.add(name)
    # A page's items are the main model: its examples are on the item's schema.
    pages = {name for name in models if name.startswith("Page_")}
    models = (models - pages) | {name.removeprefix("Page_").removesuffix("_") for name in pages}

    assert {"NodeCreate", "EdgeUpdate", "JobRequest", "JobOut", "TagCount"} <= models
    assert [name for name in sorted(models) if not components[name].get("examples")] == []


async def test_new_operations_document_their_problems_and_link_header(
    client: AsyncClient,
) -> None:
    paths = (await _schema(client))["paths"]
    expected = {
        ("/v1/nodes", "post"): {"400", "409", "422"},
        ("/v1/edges", "post"): {"400", "404", "409", "422"},
        ("/v1/ai/jobs", "post"): {"400", "409", "413", "422", "503"},
        ("/v1/ai/jobs/{job_id}", "delete"): {"404", "409"},
        ("/v1/edges/{edge_id}", "patch"): {"404", "409", "412", "422"},
    }
    for (path, method), statuses in expected.items():
        assert statuses <= set(paths[path][method]["responses"]), (path, method)
    for path in ("/v1/nodes", "/v1/ai/jobs", "/v1/tags", "/v1/nodes/{node_id}/edges"):
        assert "Link" in paths[path]["get"]["responses"]["200"]["headers"], path
    post = paths["/v1/nodes"]["post"]
    (key,) = [p for p in post["parameters"] if p["name"] == "Idempotency-Key"]
    assert key["in"] == "header"
    assert not key["required"]

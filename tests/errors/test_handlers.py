from __future__ import annotations

import json
from typing import Any

import pytest
from httpx import AsyncClient

from app.main import create_app
from tests.conftest import ClientFactory, LogReader, SettingsFactory, asgi_request
from tests.error_routes import SECRET_EXCEPTION_TEXT

PROBLEM = "application/problem+json"
STANDARD_MEMBERS = {"type", "title", "status", "detail", "instance", "correlation_id"}


def assert_problem(response_json: dict[str, object], status: int, slug: str, path: str) -> None:
    assert response_json.keys() >= STANDARD_MEMBERS
    assert response_json["status"] == status
    assert response_json["type"] == f"/problems/{slug}"
    assert isinstance(response_json["detail"], str)
    assert isinstance(response_json["title"], str)
    assert response_json["instance"] == path


async def test_unknown_route_returns_problem_404(client: AsyncClient) -> None:
    response = await client.get("/does/not/exist")

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert_problem(response.json(), 404, "not-found", "/does/not/exist")
    assert response.json()["correlation_id"] == response.headers["x-request-id"]


async def test_allow_lists_methods_of_every_route_on_the_path(client: AsyncClient) -> None:
    response = await client.put("/v1/nodes")

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, POST"


async def test_wrong_method_returns_problem_405_with_allow(client: AsyncClient) -> None:
    response = await client.post("/healthz")

    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["allow"] == "GET, HEAD"
    assert_problem(response.json(), 405, "method-not-allowed", "/healthz")


@pytest.mark.parametrize(("status", "slug"), [(404, "not-found"), (418, "http-error")])
async def test_http_exception_from_route_keeps_status_detail_and_headers(
    error_routes_client: ClientFactory, status: int, slug: str
) -> None:
    client = await error_routes_client()

    response = await client.get(f"/test/http-error/{status}")

    assert response.status_code == status
    assert response.headers["x-custom"] == "kept"
    assert_problem(response.json(), status, slug, f"/test/http-error/{status}")
    assert response.json()["detail"] == "custom detail"


async def test_generic_problem_type_uses_the_status_phrase_as_title(
    error_routes_client: ClientFactory,
) -> None:
    client = await error_routes_client()

    response = await client.get("/test/http-error/418")

    assert response.json()["title"] == "I'm a Teapot"


async def test_http_exception_from_dependency_keeps_status_and_headers(
    error_routes_client: ClientFactory,
) -> None:
    client = await error_routes_client()

    response = await client.get("/test/items/1", headers={"X-Block": "yes"})

    assert response.status_code == 401
    assert response.headers["x-reason"] == "dep"
    assert_problem(response.json(), 401, "unauthorized", "/test/items/1")
    assert response.json()["detail"] == "Blocked by a dependency"


async def test_http_exception_from_middleware_keeps_status_and_headers(
    error_routes_client: ClientFactory,
) -> None:
    client = await error_routes_client()

    response = await client.get("/test/mw-http")

    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.headers["content-type"] == PROBLEM
    assert_problem(response.json(), 429, "rate-limited", "/test/mw-http")
    assert response.json()["correlation_id"] == response.headers["x-request-id"]


async def test_app_error_from_middleware_keeps_status_and_headers(
    error_routes_client: ClientFactory,
) -> None:
    client = await error_routes_client()

    response = await client.get("/test/mw-app")

    assert response.status_code == 429
    assert response.headers["retry-after"] == "9"
    assert_problem(response.json(), 429, "rate-limited", "/test/mw-app")
    assert response.json()["detail"] == "Too many requests from this client."


@pytest.mark.parametrize(
    ("kind", "status", "slug", "header", "value"),
    [
        ("unauthorized", 401, "unauthorized", "www-authenticate", "Bearer"),
        ("rate-limited", 429, "rate-limited", "retry-after", "30"),
        ("unavailable", 503, "service-unavailable", "retry-after", "12"),
        ("upstream", 502, "upstream-error", None, None),
        ("forbidden", 403, "forbidden", None, None),
        ("too-large", 413, "payload-too-large", None, None),
        ("stale", 412, "precondition-failed", None, None),
        ("timeout", 504, "upstream-timeout", "retry-after", "3"),
    ],
)
async def test_app_errors_map_to_their_problem_type_and_headers(
    error_routes_client: ClientFactory,
    kind: str,
    status: int,
    slug: str,
    header: str | None,
    value: str | None,
) -> None:
    client = await error_routes_client()

    response = await client.get(f"/test/app-error/{kind}")

    assert response.status_code == status
    assert_problem(response.json(), status, slug, f"/test/app-error/{kind}")
    if header is not None:
        assert value is not None
        assert response.headers[header].startswith(value)


async def test_unauthorized_challenge_follows_rfc_6750(error_routes_client: ClientFactory) -> None:
    client = await error_routes_client()

    response = await client.get("/test/app-error/unauthorized")

    assert response.headers["www-authenticate"] == (
        'Bearer realm="graphnode-api", error="invalid_token"'
    )
    assert response.json()["detail"] == "The token has expired."


async def test_app_error_extensions_are_problem_members(error_routes_client: ClientFactory) -> None:
    client = await error_routes_client()

    response = await client.get("/test/app-error/conflict")

    assert response.status_code == 409
    assert response.json()["existing_id"] == "e-1"
    assert response.json()["type"] == "/problems/conflict"


async def test_body_validation_returns_422_with_json_pointers(
    error_routes_client: ClientFactory,
) -> None:
    client = await error_routes_client()

    response = await client.post(
        "/test/items", json={"title": "far too long a title", "tags": ["a", 5]}
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert_problem(body, 422, "validation-error", "/test/items")
    pointers = {error["pointer"] for error in body["errors"]}
    assert pointers == {"#/title", "#/tags/1"}
    assert all(isinstance(error["detail"], str) for error in body["errors"])
    assert body["detail"] == "The request has 2 invalid values."


async def test_missing_body_member_points_at_it(error_routes_client: ClientFactory) -> None:
    client = await error_routes_client()

    response = await client.post("/test/items", json={"tags": []})

    assert response.json()["errors"] == [{"detail": "Field required", "pointer": "#/title"}]


async def test_malformed_json_body_returns_422_pointing_at_the_document(
    error_routes_client: ClientFactory,
) -> None:
    client = await error_routes_client()

    response = await client.post(
        "/test/items", content=b'{"title": ', headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422
    assert [error["pointer"] for error in response.json()["errors"]] == ["#"]


async def test_query_path_and_header_validation_name_the_parameter(
    error_routes_client: ClientFactory,
) -> None:
    client = await error_routes_client()

    response = await client.get("/test/items/abc?limit=1000", headers={"X-Tenant": "ab"})

    assert response.status_code == 422
    errors = response.json()["errors"]
    assert {error.get("parameter") for error in errors if "parameter" in error} == {
        "item_id",
        "limit",
    }
    assert [error["header"] for error in errors if "header" in error] == ["x-tenant"]
    assert all("pointer" not in error for error in errors)


async def test_validation_problem_does_not_echo_the_input(
    error_routes_client: ClientFactory,
) -> None:
    client = await error_routes_client()

    response = await client.post("/test/items", json={"title": "s3cr3t-value-x" * 3})

    assert "s3cr3t-value-x" not in response.text


async def test_unhandled_exception_returns_generic_500_without_exception_text(
    error_routes_client: ClientFactory,
) -> None:
    client = await error_routes_client()

    response = await client.get("/test/boom")

    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert_problem(body, 500, "internal-error", "/test/boom")
    assert SECRET_EXCEPTION_TEXT not in response.text
    assert "RuntimeError" not in response.text
    assert "Traceback" not in response.text
    assert "event_id" not in body  # Sentry is off: nothing was reported
    assert body["correlation_id"] == response.headers["x-request-id"]


async def test_exception_in_middleware_returns_generic_500(
    error_routes_client: ClientFactory,
) -> None:
    client = await error_routes_client()

    response = await client.get("/test/mw-crash")

    assert response.status_code == 500
    assert_problem(response.json(), 500, "internal-error", "/test/mw-crash")
    assert SECRET_EXCEPTION_TEXT not in response.text
    assert response.json()["correlation_id"] == response.headers["x-request-id"]


async def test_response_validation_error_is_a_500_without_the_data(
    error_routes_client: ClientFactory,
) -> None:
    client = await error_routes_client()

    response = await client.get("/test/response-invalid")

    assert response.status_code == 500
    assert_problem(response.json(), 500, "internal-error", "/test/response-invalid")
    assert SECRET_EXCEPTION_TEXT not in response.text
    assert "not-an-int" not in response.text


async def test_http_500_detail_from_code_is_not_shown(error_routes_client: ClientFactory) -> None:
    client = await error_routes_client()

    response = await client.get("/test/http-error/500")

    assert response.status_code == 500
    assert response.json()["detail"] == (
        "The server failed to handle this request. It has been reported."
    )


async def test_not_modified_has_no_body(error_routes_client: ClientFactory) -> None:
    client = await error_routes_client()

    response = await client.get("/test/not-modified")

    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == '"v1"'
    assert "x-request-id" in response.headers


def _body(messages: list[dict[str, Any]]) -> bytes:
    return b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")


def _headers(messages: list[dict[str, Any]]) -> dict[bytes, bytes]:
    return dict(messages[0]["headers"])


async def test_head_request_problem_has_no_body_but_the_get_headers(
    settings_factory: SettingsFactory,
) -> None:
    app = create_app(settings_factory())

    head = await asgi_request(app, "HEAD", "/does/not/exist")
    get = await asgi_request(app, "GET", "/does/not/exist")

    assert head[0]["status"] == 404
    assert _body(head) == b""
    assert _headers(head)[b"content-type"] == PROBLEM.encode()
    assert _headers(head)[b"content-length"] == str(len(_body(get))).encode()


async def test_head_on_health_has_no_body(client_factory: ClientFactory) -> None:
    client = await client_factory()
    app = client._transport.app  # type: ignore[attr-defined]  # the app behind the client

    messages = await asgi_request(app, "HEAD", "/healthz")

    assert messages[0]["status"] == 200
    assert _body(messages) == b""


async def test_non_utf8_query_string_still_gets_a_problem(
    settings_factory: SettingsFactory,
) -> None:
    app = create_app(settings_factory())

    messages = await asgi_request(app, "GET", "/nowhere", query_string=b"q=%ff\xff\xfe")

    assert messages[0]["status"] == 404
    assert json.loads(_body(messages))["instance"] == "/nowhere"


async def test_http_exception_422_from_code_still_has_errors(
    error_routes_client: ClientFactory,
) -> None:
    client = await error_routes_client()

    response = await client.get("/test/http-error/422")

    assert response.json()["type"] == "/problems/validation-error"
    assert response.json()["errors"] == []


async def test_rejected_cors_preflight_is_a_problem(error_routes_client: ClientFactory) -> None:
    client = await error_routes_client(cors_origins="https://app.example")

    rejected = await client.options(
        "/healthz",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    allowed = await client.options(
        "/healthz",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
    )

    assert rejected.status_code == 400
    assert rejected.headers["content-type"] == PROBLEM
    assert rejected.json()["type"] == "/problems/bad-request"
    assert "origin" in rejected.json()["detail"].lower()
    assert "x-request-id" in rejected.headers
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"


@pytest.mark.parametrize("path", ["/test/boom", "/does/not/exist", "/test/mw-crash"])
async def test_cors_headers_are_present_on_error_responses(
    error_routes_client: ClientFactory, path: str
) -> None:
    client = await error_routes_client(cors_origins="https://app.example")

    response = await client.get(path, headers={"Origin": "https://app.example"})

    assert response.status_code >= 400
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()


async def test_cors_headers_are_absent_for_other_origins(
    error_routes_client: ClientFactory,
) -> None:
    client = await error_routes_client(cors_origins="https://app.example")

    response = await client.get("/test/boom", headers={"Origin": "https://evil.example"})

    assert "access-control-allow-origin" not in response.headers


async def test_error_after_streaming_started_is_reported_and_aborts_the_response(
    error_routes_client: ClientFactory, logs: LogReader
) -> None:
    client = await error_routes_client()

    # The exception reaches the server, which closes the connection: the client can tell
    # the body is truncated instead of receiving a silently short 200.
    with pytest.raises(RuntimeError, match="stream broke"):
        await client.get("/test/stream-error")

    failed = logs.events("request.failed")
    assert len(failed) == 1
    assert failed[0]["error_type"] == "RuntimeError"
    access = logs.events("http.request")
    assert [line["status"] for line in access] == [200]

"""One builder of problem bodies: `problem_from(exc)` for responses and failed jobs."""

from __future__ import annotations

from app.errors.exceptions import (
    HTTPError,
    IdempotencyKeyInUse,
    MethodNotAllowed,
    NotFound,
    error_for_status,
)
from app.errors.problem import INTERNAL_ERROR_DETAIL, Problem, problem_from


def test_an_app_error_gives_its_type_detail_and_extensions() -> None:
    body = problem_from(
        NotFound("No node 7.", node_id="7"), instance="/v1/nodes/7", correlation_id="c-1"
    )
    assert body == {
        "type": "/problems/not-found",
        "title": "Resource not found",
        "status": 404,
        "detail": "No node 7.",
        "instance": "/v1/nodes/7",
        "correlation_id": "c-1",
        "node_id": "7",
    }
    Problem.model_validate(body)


def test_headers_stay_out_of_the_body_and_the_event_id_goes_in() -> None:
    body = problem_from(
        IdempotencyKeyInUse(retry_after=3), instance="/x", correlation_id=None, event_id="e1"
    )
    assert body["status"] == 409
    assert body["event_id"] == "e1"
    assert "Retry-After" not in body
    assert "headers" not in body


def test_any_other_exception_is_an_internal_error_that_explains_nothing() -> None:
    body = problem_from(
        RuntimeError("password=hunter2 in a query"), instance="/v1/x", correlation_id="c"
    )
    assert (body["type"], body["status"]) == ("/problems/internal-error", 500)
    assert body["detail"] == INTERNAL_ERROR_DETAIL
    assert "hunter2" not in str(body)


def test_a_status_becomes_the_error_declared_for_it_with_only_the_headers_given() -> None:
    error = error_for_status(405, "Method Not Allowed", headers={"Allow": "GET, HEAD"})

    assert type(error) is MethodNotAllowed
    assert (error.detail, error.headers) == ("Method Not Allowed", {"Allow": "GET, HEAD"})
    # Unauthorized adds its challenge itself; a framework's 401 keeps its own headers.
    assert error_for_status(401).headers == {}


def test_a_status_without_a_declared_type_is_a_generic_http_error() -> None:
    error = error_for_status(418)
    body = problem_from(error, instance="/tea", correlation_id="c")

    assert isinstance(error, HTTPError)
    assert body["type"] == "/problems/http-error"
    assert (body["status"], body["title"], body["detail"]) == (418, "I'm a Teapot", "I'm a Teapot")

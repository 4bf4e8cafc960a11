"""One builder of problem bodies: `problem_from(exc)` for responses and failed jobs."""

from __future__ import annotations

from app.errors.exceptions import IdempotencyKeyInUse, NotFound
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

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from app.core.logging import configure_logging
from app.errors.exceptions import InternalError, NotFound, ServiceUnavailable
from app.errors.problem import problem_from
from app.services.job_retry import JobRetryPolicy
from app.services.job_runner import UNAVAILABLE_DETAIL, UNEXPECTED_DETAIL, job_error
from tests.conftest import LogReader, SettingsFactory


def _problem(error: BaseException) -> dict[str, object]:
    return problem_from(job_error(error), instance="/v1/ai/jobs/j1", correlation_id="c1")


def test_an_outage_that_outlasted_the_retries_is_a_503_problem() -> None:
    problem = _problem(OperationalError("SELECT", {}, ConnectionRefusedError("down")))

    assert problem == {
        "type": ServiceUnavailable.problem_type.uri,
        "title": ServiceUnavailable.problem_type.title,
        "status": 503,
        "detail": UNAVAILABLE_DETAIL,
        "instance": "/v1/ai/jobs/j1",
        "correlation_id": "c1",
    }


def test_a_bug_is_an_internal_error_that_says_nothing_of_it() -> None:
    problem = _problem(RuntimeError("secret text"))

    assert (problem["type"], problem["status"], problem["detail"]) == (
        InternalError.problem_type.uri,
        500,
        UNEXPECTED_DETAIL,
    )
    assert "secret" not in str(problem)


def test_a_client_error_is_its_own_problem() -> None:
    problem = _problem(NotFound("There is no such node."))

    assert (problem["status"], problem["detail"]) == (404, "There is no such node.")


async def test_the_policy_counts_the_attempts_where_they_are_kept(
    settings_factory: SettingsFactory, logs: LogReader
) -> None:
    settings = settings_factory(job_max_attempts=3, job_retry_base_seconds=0.01)
    configure_logging(settings)
    policy = JobRetryPolicy(settings)
    stored = [1]  # the job's first attempt was in an earlier delivery

    async def run() -> None:
        async for attempt in policy.retrying("run", attempts=lambda: stored[-1]):
            with attempt:
                stored.append(stored[-1] + 1)  # a run starts the job again: one more attempt
                raise ConnectionError("broker down")

    with pytest.raises(ConnectionError):
        await run()

    assert stored == [1, 2, 3]
    retries = logs.events("job.retrying")
    assert [(line["step"], line["attempt"]) for line in retries] == [("run", 2)]

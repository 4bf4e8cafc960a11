"""The one retry policy of a job's steps (picking it up, running it, recording its end).

An outage (`is_transient`: the database, the broker or a dependency unreachable) is
retried on tenacity with exponential backoff, JOB_RETRY_BASE_SECONDS doubled at each
attempt, until the step has made JOB_MAX_ATTEMPTS attempts; each retry logs
`job.retrying`. Any other failure ends the step at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from app.core.config import Settings
from app.core.db import is_outage
from app.errors.exceptions import ServiceUnavailable

_T = TypeVar("_T")
_P = ParamSpec("_P")

log = structlog.get_logger("graphnode.worker")


def is_transient(error: BaseException) -> bool:
    """Whether a later attempt may succeed: an outage, not a fault of the job or the code."""
    return is_outage(error) or isinstance(error, ServiceUnavailable | ConnectionError)


class JobRetryPolicy:
    """JOB_MAX_ATTEMPTS and JOB_RETRY_BASE_SECONDS, applied to any step of a job."""

    def __init__(self, settings: Settings) -> None:
        self._max_attempts = settings.job_max_attempts
        self._base_seconds = settings.job_retry_base_seconds

    def retrying(self, step: str, *, attempts: Callable[[], int] | None = None) -> AsyncRetrying:
        """The retry loop of `step`. `attempts` counts the attempts made so far where they
        are counted elsewhere (a run's are stored with the job, across deliveries);
        otherwise tenacity counts them."""

        def made(state: RetryCallState) -> int:
            return attempts() if attempts is not None else state.attempt_number

        def log_retry(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome is not None else None
            log.warning(
                "job.retrying",
                step=step,
                attempt=made(state),
                error_type=type(error).__name__,
                delay_seconds=state.upcoming_sleep,
            )

        return AsyncRetrying(
            retry=retry_if_exception(is_transient),
            stop=lambda state: made(state) >= self._max_attempts,
            wait=lambda state: self._base_seconds * 2 ** (made(state) - 1),
            before_sleep=log_retry,
            reraise=True,
        )

    async def call(
        self,
        step: str,
        operation: Callable[_P, Awaitable[_T]],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> _T:
        """`await operation(*args, **kwargs)`, retried while it fails on an outage."""
        return await self.retrying(step)(operation, *args, **kwargs)

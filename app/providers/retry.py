"""The retry policy of a call to an upstream (the chat provider's), on tenacity.

A failure another try may fix is raised as a `RetryableFailure` carrying the problem to
answer with if none is left, and the upstream's `Retry-After`, which is waited for when
given (else exponential backoff with jitter). The tries stop after `max_retries` retries,
or rather than wait more than `max_wait` seconds at once.
"""

from __future__ import annotations

import datetime
import email.utils
import math
import re
import time

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)
from tenacity.stop import stop_base

from app.errors.exceptions import AppError

_BACKOFF_BASE_SECONDS = 0.25
_DEFAULT_RETRY_AFTER_SECONDS = 30
_MAX_RETRY_AFTER_SECONDS = 86_400
_DELAY_SECONDS = re.compile(r"[0-9]{1,9}")  # RFC 9110 delay-seconds, bounded


def upstream_retrying(*, max_retries: int, max_wait: float) -> AsyncRetrying:
    """The tries of one call: `RetryableFailure` is retried, anything else is raised."""
    return AsyncRetrying(
        retry=retry_if_exception_type(RetryableFailure),
        wait=_upstream_wait,
        stop=stop_after_attempt(max_retries + 1) | _StopWaitingLonger(max_wait),
        reraise=True,
    )


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delay-seconds or HTTP-date), clamped to a day;
    None when absent or not understood (the upstream's header is not trusted further)."""
    if not value:
        return None
    value = value.strip()
    if _DELAY_SECONDS.fullmatch(value):
        seconds = float(value)
    else:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if moment.tzinfo is None:  # "-0000": UTC by RFC 5322
            moment = moment.replace(tzinfo=datetime.UTC)
        seconds = moment.timestamp() - time.time()
    return min(max(0.0, seconds), _MAX_RETRY_AFTER_SECONDS)


def retry_after_header(seconds: float | None) -> int:
    return _DEFAULT_RETRY_AFTER_SECONDS if seconds is None else max(1, math.ceil(seconds))


class RetryableFailure(Exception):
    """A failed try that another may fix; `problem` is the client's answer if none is left."""

    def __init__(self, problem: AppError, *, retry_after: float | None = None) -> None:
        super().__init__(problem.detail)
        self.problem = problem
        self.retry_after = retry_after


_backoff = wait_exponential(multiplier=_BACKOFF_BASE_SECONDS) + wait_random(
    0, _BACKOFF_BASE_SECONDS
)


def _upstream_wait(state: RetryCallState) -> float:
    """The upstream's `Retry-After` when it sent one, else exponential backoff with jitter."""
    failure = state.outcome.exception() if state.outcome is not None else None
    if isinstance(failure, RetryableFailure) and failure.retry_after is not None:
        return failure.retry_after
    return float(_backoff(state))


class _StopWaitingLonger(stop_base):
    """Stop rather than wait more than `max_wait` seconds for the next try."""

    def __init__(self, max_wait: float) -> None:
        self._max_wait = max_wait

    def __call__(self, retry_state: RetryCallState) -> bool:
        return retry_state.upcoming_sleep > self._max_wait

"""ErrorTrackingService: the one place that sends errors and messages to Sentry.

The call forms of the original design work as written there:

    error_tracking.capture_exception(error, {"endpoint": "/v1/ai/lightweight-analyze"})
    error_tracking.capture_message("quota nearly used", "warning")

and so do the keyword forms (`context=`, `level=`). A level is one of Sentry's level
names in any case (`"warning"`, `"WARNING"`, `"warn"`) or a stdlib logging level
(`logging.WARNING`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Literal

import sentry_sdk
from sentry_sdk.utils import event_from_exception

from app.errors.exceptions import AppError

Level = Literal["fatal", "error", "warning", "info", "debug"]

CONTEXT_NAME = "graphnode"
# What a mapped failure knows about its cause (an upstream's status, the kind of outage).
CAUSE_CONTEXT_NAME = "cause"
# A mechanism type for exceptions reported on purpose by our own code.
GENERIC_MECHANISM = "generic"

_LEVELS: dict[str, Level] = {
    "fatal": "fatal",
    "critical": "fatal",
    "error": "error",
    "warning": "warning",
    "warn": "warning",
    "info": "info",
    "debug": "debug",
}


def sentry_level(level: str | int) -> Level:
    """Sentry's name for `level` (a Sentry level name in any case, or a logging level)."""
    if isinstance(level, int):
        if level >= logging.CRITICAL:
            return "fatal"
        if level >= logging.ERROR:
            return "error"
        if level >= logging.WARNING:
            return "warning"
        return "info" if level >= logging.INFO else "debug"
    try:
        return _LEVELS[level.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown level {level!r}: use one of {sorted(set(_LEVELS))}") from None


class ErrorTrackingService:
    """Reports to Sentry in a scope of its own, so `context` never leaks to later events.

    Both methods return the Sentry event id, or None when Sentry is off or the event was
    dropped (sampling, `before_send`, or a duplicate of an exception already reported).
    """

    def capture_exception(
        self,
        exc: BaseException,
        context: Mapping[str, Any] | None = None,
        *,
        handled: bool = True,
        mechanism: str = GENERIC_MECHANISM,
    ) -> str | None:
        """Report `exc` with `context` (the `graphnode` block); a mapped failure (an
        `AppError`) also carries its `diagnostics` as the `cause` block, in a request and a
        job alike. `handled=False` marks a failure nothing in the code expected (Sentry's
        "unhandled"), produced by `mechanism`."""
        client = sentry_sdk.get_client()
        if not client.is_active():
            return None
        event, hint = event_from_exception(
            exc, client_options=client.options, mechanism={"type": mechanism, "handled": handled}
        )
        with sentry_sdk.new_scope() as scope:
            if context:
                scope.set_context(CONTEXT_NAME, dict(context))
            if isinstance(exc, AppError) and exc.diagnostics:
                scope.set_context(CAUSE_CONTEXT_NAME, dict(exc.diagnostics))
            return sentry_sdk.capture_event(event, hint=hint)

    def capture_message(
        self,
        message: str,
        level: str | int = "info",
        context: Mapping[str, Any] | None = None,
    ) -> str | None:
        sentry_level_name = sentry_level(level)
        with sentry_sdk.new_scope() as scope:
            if context:
                scope.set_context(CONTEXT_NAME, dict(context))
            return sentry_sdk.capture_message(message, level=sentry_level_name)


error_tracking = ErrorTrackingService()

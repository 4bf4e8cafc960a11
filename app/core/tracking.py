"""ErrorTrackingService: the one place that sends errors and messages to Sentry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import sentry_sdk

Level = Literal["fatal", "error", "warning", "info", "debug"]

CONTEXT_NAME = "graphnode"


class ErrorTrackingService:
    """Reports to Sentry in a scope of its own, so `context` never leaks to later events.

    Both methods return the Sentry event id, or None when Sentry is off or the event was
    dropped (sampling, `before_send`, or a duplicate of an exception already reported).
    """

    def capture_exception(
        self, exc: BaseException, *, context: Mapping[str, Any] | None = None
    ) -> str | None:
        with sentry_sdk.new_scope() as scope:
            if context:
                scope.set_context(CONTEXT_NAME, dict(context))
            return sentry_sdk.capture_exception(exc)

    def capture_message(
        self,
        message: str,
        *,
        level: Level = "info",
        context: Mapping[str, Any] | None = None,
    ) -> str | None:
        with sentry_sdk.new_scope() as scope:
            if context:
                scope.set_context(CONTEXT_NAME, dict(context))
            return sentry_sdk.capture_message(message, level=level)


error_tracking = ErrorTrackingService()

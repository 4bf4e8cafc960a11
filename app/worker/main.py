"""The broker the worker processes run: `python -m app.worker` (or `taskiq worker
app.worker.main:broker`).

Every worker process configures logging and Sentry (component "worker") on import, opens
the database on WORKER_STARTUP and closes it, flushing Sentry, on WORKER_SHUTDOWN.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from taskiq import InMemoryBroker, TaskiqEvents, TaskiqState

from app.core.config import SettingsError, load_settings
from app.core.db import create_engine, create_session_factory
from app.core.logging import configure_logging
from app.core.sentry import flush_sentry, init_sentry
from app.core.startup import DependencyUnreachable, reach
from app.worker.broker import BROKER_CONNECT_TIMEOUT_SECONDS, build_broker, probe_broker


def _exit_at_startup(message: str) -> NoReturn:
    """One line, then a non-zero exit; with `--max-fails 1` (the Procfile's) taskiq's
    process manager exits too instead of starting the failing child again."""
    print(f"graphnode-worker: {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)


try:
    settings = load_settings()
    broker = build_broker(settings)
except SettingsError as exc:
    _exit_at_startup(str(exc))
if isinstance(broker, InMemoryBroker):
    _exit_at_startup(
        "invalid setting BROKER_URL: memory:// runs jobs inside the API process; "
        "a worker needs redis://, amqp:// or sqs://"
    )

configure_logging(settings)
init_sentry(settings, component="worker")


async def _open(state: TaskiqState) -> None:
    # The worker CLI configures logging before importing us: take the handlers back.
    configure_logging(settings)
    state.engine = create_engine(
        settings.database_url, timeout_seconds=settings.database_timeout_seconds
    )
    state.session_factory = create_session_factory(state.engine)


async def _close(state: TaskiqState) -> None:
    engine = getattr(state, "engine", None)  # None when start-up did not get that far
    if engine is not None:
        await engine.dispose()
    flush_sentry()


_start_broker = broker.startup


async def _reach_broker_then_start() -> None:
    # The broker is required; the database is not (a job retries, then is requeued). Probed
    # before the broker's start-up, which connects (SQS: with botocore's retries) before it
    # runs WORKER_STARTUP handlers.
    try:
        await reach(
            "BROKER_URL",
            settings.broker_url,
            probe_broker(broker, settings),
            timeout_seconds=BROKER_CONNECT_TIMEOUT_SECONDS,
        )
    except DependencyUnreachable as failure:
        print(f"graphnode-worker: {failure}", file=sys.stderr, flush=True)
        # Nothing was started, so there is nothing to stop: taskiq's clean-up would shut a
        # broker that never connected down (and log a traceback for SQS's). A forked child
        # ends with os._exit anyway.
        os._exit(1)
    await _start_broker()


# taskiq's Receiver starts the broker: the probe goes first.
broker.startup = _reach_broker_then_start  # type: ignore[method-assign]  # see above
broker.add_event_handler(TaskiqEvents.WORKER_STARTUP, _open)
broker.add_event_handler(TaskiqEvents.WORKER_SHUTDOWN, _close)

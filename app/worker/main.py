"""The broker the worker processes run: `python -m app.worker` (or `taskiq worker
app.worker.main:broker`).

Every worker process configures logging and Sentry (component "worker") on import, opens
the database on WORKER_STARTUP and closes it, flushing Sentry, on WORKER_SHUTDOWN.
"""

from __future__ import annotations

import sys

from taskiq import TaskiqEvents, TaskiqState

from app.core.config import SettingsError, load_settings
from app.core.db import create_engine, create_session_factory
from app.core.logging import configure_logging
from app.core.sentry import flush_sentry, init_sentry
from app.worker.broker import build_broker

try:
    settings = load_settings()
    broker = build_broker(settings)
except SettingsError as exc:
    sys.exit(f"graphnode-worker: {exc}")

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
    await state.engine.dispose()
    flush_sentry()


broker.add_event_handler(TaskiqEvents.WORKER_STARTUP, _open)
broker.add_event_handler(TaskiqEvents.WORKER_SHUTDOWN, _close)

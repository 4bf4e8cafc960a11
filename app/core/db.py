"""The async engine, the unit of work (requests and jobs) and start-up migrations."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, event, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

from app.errors.exceptions import ServiceUnavailable

if TYPE_CHECKING:
    from alembic.config import Config

_AFTER_COMMIT = "graphnode_after_commit"
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
DATABASE_RETRY_AFTER_SECONDS = 5
POOL_RECYCLE_SECONDS = 1800

# Failures that mean "the database is unreachable or too slow", not "the request is wrong".
_OUTAGES: tuple[type[BaseException], ...] = (
    exc.OperationalError,
    exc.InterfaceError,
    exc.TimeoutError,  # waiting for a pooled connection
    exc.DisconnectionError,
    ConnectionError,
    TimeoutError,
    asyncio.TimeoutError,
    socket.gaierror,  # the database host name does not resolve
)


def create_engine(database_url: str, *, timeout_seconds: float = 10.0) -> AsyncEngine:
    """An engine whose errors never quote bound parameters (`hide_parameters`): they are
    what users sent (titles, bodies, search terms), and an error's message reaches logs
    and Sentry events. The SQL text itself is kept."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database not in (None, "", ":memory:"):
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = _create_async_engine(
            url, hide_parameters=True, connect_args={"timeout": timeout_seconds}
        )
        event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
        return engine
    # No `pool_pre_ping`: it is a round trip (with asyncpg, three) before every request's
    # first statement. A connection the server closed (a restart, an idle timeout) is known
    # closed to asyncpg without asking (`_discard_closed`); connections are replaced after
    # `pool_recycle` seconds, under common idle timeouts of servers and proxies.
    engine = _create_async_engine(
        url,
        hide_parameters=True,
        pool_recycle=POOL_RECYCLE_SECONDS,
        pool_timeout=timeout_seconds,
        connect_args={"timeout": timeout_seconds, "command_timeout": timeout_seconds},
    )
    event.listen(engine.sync_engine, "checkout", _discard_closed)
    return engine


def _discard_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    # The pool retries a checkout that raises DisconnectionError with another connection.
    is_closed = getattr(dbapi_connection.driver_connection, "is_closed", None)
    if is_closed is not None and is_closed():
        raise exc.DisconnectionError("the database closed this pooled connection")


def _configure_sqlite_connection(dbapi_connection: Any, _: Any) -> None:
    # SQLite ignores foreign keys (and ON DELETE CASCADE) unless asked, per connection.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    # SQLite's lower() (behind ILIKE) folds ASCII only; PostgreSQL folds every letter.
    dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)


def _unicode_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def is_outage(error: BaseException) -> bool:
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, _OUTAGES)


@contextlib.asynccontextmanager
async def unit_of_work(
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One transaction, for a request or a job's step alike: commit on success, roll back
    on any error. It is the only place that commits.

    A database outage (unreachable, timed out) becomes a 503 problem with `Retry-After`;
    the original error stays chained for the logs and Sentry. The `after_commit` actions
    run once the transaction has committed and its connection is back in the pool.
    """
    async with session_factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException as error:
            await _rollback_quietly(session)
            if isinstance(error, Exception) and is_outage(error):
                raise ServiceUnavailable(
                    "The database is unavailable. Retry later.",
                    retry_after=DATABASE_RETRY_AFTER_SECONDS,
                    diagnostics={
                        "dependency": "database",
                        "reason": "unavailable",
                        "error_type": type(error).__name__,
                    },
                ) from error
            raise
        actions = session.info.pop(_AFTER_COMMIT, [])
    for action in actions:
        await action()


def after_commit(session: AsyncSession, action: Callable[[], Awaitable[None]]) -> None:
    """Run `action` once the unit of work of `session` has committed (e.g. send a stored
    job). It must not raise: what it follows is committed, so its failures are its own
    to absorb (a job the broker did not take waits for the outbox relay)."""
    session.info.setdefault(_AFTER_COMMIT, []).append(action)


async def _rollback_quietly(session: AsyncSession) -> None:
    # The connection may be the thing that failed; the original error is what matters.
    with contextlib.suppress(Exception):
        await session.rollback()


async def ping(engine: AsyncEngine) -> None:
    """Raise if the database cannot run a trivial query."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


def alembic_config() -> Config:
    # Imported here, not at the top: importing alembic logs its plugin set-up, and a worker
    # process (which never migrates) would write those lines before its logging is ours.
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


async def migrate(engine: AsyncEngine) -> None:
    """Upgrade the database to the latest revision (Alembic, on this engine)."""

    from alembic import command

    def upgrade(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with engine.begin() as connection:
        await connection.run_sync(upgrade)

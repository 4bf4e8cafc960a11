from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import sentry_sdk
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.core.db import create_engine
from app.core.security import create_access_token
from app.main import create_app
from tests.error_routes import add_test_routes
from tests.local_http import FakeLLM, JWKSProvider, SentryIngest

SettingsFactory = Callable[..., Settings]
ClientFactory = Callable[..., Awaitable[AsyncClient]]


# The drivers the app accepts for each service (app/core/config.py), by test variable.
SERVICE_SCHEMES = {
    "TEST_DATABASE_URL": ("postgresql+asyncpg://",),
    "TEST_REDIS_URL": ("redis://", "rediss://"),
    "TEST_AMQP_URL": ("amqp://", "amqps://"),
}


def service_url(variable: str) -> str:
    """The URL of a real service for an integration test; skip (fail in CI) without it.

    A URL with another driver fails the test in one line, as the app refuses it at start-up.
    """
    value = os.environ.get(variable)
    if not value:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{variable} is not set: CI must run the tests against real services")
        pytest.skip(f"{variable} is not set (export it to run tests against the real service)")
    schemes = SERVICE_SCHEMES.get(variable, ())
    if schemes and not value.startswith(schemes):
        pytest.fail(f"{variable} must start with {' or '.join(schemes)}", pytrace=False)
    return value


@pytest.fixture
def settings_factory(tmp_path: Path) -> SettingsFactory:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'test.db'}",
            "log_format": "json",
            "app_version": "1.2.3-test",
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)

    return make


@pytest.fixture
async def client_factory(settings_factory: SettingsFactory) -> AsyncIterator[ClientFactory]:
    """Build (or take) an app, run its lifespan, and return an httpx client over ASGI."""
    async with AsyncExitStack() as stack:

        async def make(app: FastAPI | None = None, **overrides: Any) -> AsyncClient:
            app = app or create_app(settings_factory(**overrides))
            await stack.enter_async_context(LifespanManager(app))
            transport = ASGITransport(app=app, client=("203.0.113.7", 51234))
            client = AsyncClient(transport=transport, base_url="http://testserver")
            return await stack.enter_async_context(client)

        yield make


@pytest.fixture
async def client(client_factory: ClientFactory) -> AsyncClient:
    return await client_factory()


@pytest.fixture
def sentry_ingest() -> Iterator[SentryIngest]:
    ingest = SentryIngest()
    ingest.start()
    yield ingest
    _close_sentry()
    ingest.stop()


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    server = FakeLLM()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def provider() -> Iterator[JWKSProvider]:
    """A local OpenID Connect provider: its JWKS endpoint, and tokens it signs."""
    server = JWKSProvider()
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _sentry_off_after_test() -> Iterator[None]:
    yield
    _close_sentry()


def _close_sentry() -> None:
    client = sentry_sdk.get_client()
    if client.is_active():
        client.close(timeout=2)
    sentry_sdk.get_global_scope().set_client(None)
    sentry_sdk.get_global_scope().remove_tag("component")
    # A test's own client span left open (a response that failed mid-stream) would stay
    # current in the scope the next test starts from.
    sentry_sdk.get_current_scope().span = None


class LogReader:
    """Parses the JSON log lines written to stderr since the last read."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys
        self.lines: list[dict[str, Any]] = []
        self.text = ""

    def read(self) -> list[dict[str, Any]]:
        err = self._capsys.readouterr().err
        self.text += err
        for line in err.splitlines():
            if line.strip():
                self.lines.append(json.loads(line))  # every line must be JSON
        return self.lines

    def events(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.read() if line.get("event") == event]


@pytest.fixture
def logs(capsys: pytest.CaptureFixture[str]) -> LogReader:
    return LogReader(capsys)


@pytest.fixture
def error_routes_client(
    client_factory: ClientFactory, settings_factory: SettingsFactory
) -> ClientFactory:
    """Clients for the real app plus the error-path routes of `tests.error_routes`."""

    async def make(**overrides: Any) -> AsyncClient:
        return await client_factory(add_test_routes(create_app(settings_factory(**overrides))))

    return make


def auth(user_id: str) -> dict[str, str]:
    """Headers for a request by `user_id`, signed with the test settings' secret."""
    token = create_access_token(user_id, Settings(_env_file=None))
    return {"Authorization": f"Bearer {token}"}


async def _execute_autocommit(database_url: str, statement: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database of this test run's own, dropped at the end."""
    server = service_url("TEST_DATABASE_URL")
    name = f"graphnode_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_execute_autocommit(server, f'CREATE DATABASE "{name}"'))
    yield make_url(server).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_execute_autocommit(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each graph test runs on SQLite and (with TEST_DATABASE_URL) on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'graph.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def graph_client(client_factory: ClientFactory, database_url: str) -> AsyncClient:
    client = await client_factory(database_url=database_url)  # migrates at start-up
    if database_url.startswith("postgresql"):
        await _execute_autocommit(
            database_url, "TRUNCATE nodes, node_tags, edges, idempotency_keys CASCADE"
        )
    return client


def http_scope(
    method: str, path: str, headers: list[tuple[bytes, bytes]], query_string: bytes = b""
) -> dict[str, Any]:
    """An ASGI HTTP scope as a client at 198.51.100.1 would send it to `testserver`."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query_string,
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("198.51.100.1", 4000),
        "server": ("testserver", 80),
    }


async def asgi_request(
    app: Any,
    method: str,
    path: str,
    *,
    query_string: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
    disconnect: bool = False,
    fail_on_body: bool = False,
) -> list[dict[str, Any]]:
    """One raw ASGI request; returns the messages the app sent.

    Unlike httpx's ASGITransport this shows exactly what the app sends (HEAD bodies
    included). `disconnect` makes the client vanish before the body is read;
    `fail_on_body` makes sending the first body chunk fail as a closed socket does.
    """
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if disconnect:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if fail_on_body and message["type"] == "http.response.body":
            raise OSError("connection reset by peer")
        sent.append(message)

    scope = http_scope(method, path, headers or [], query_string)
    await app(scope, receive, send)
    return sent

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

import pytest
import structlog
from pydantic import SecretStr

from app.core.config import Environment, Settings
from app.core.logging import configure_logging
from app.main import create_app
from tests.conftest import ClientFactory, LogReader, SettingsFactory


@pytest.mark.parametrize(
    ("method", "path", "route", "status"),
    [
        ("GET", "/test/items/7", "/test/items/{item_id}", 200),
        ("GET", "/nowhere", None, 404),
        ("PUT", "/healthz", "/healthz", 405),
        ("GET", "/test/items/x", "/test/items/{item_id}", 422),
        ("GET", "/test/boom", "/test/boom", 500),
        ("GET", "/test/mw-crash", None, 500),
    ],
)
async def test_exactly_one_access_line_per_request(
    error_routes_client: ClientFactory,
    logs: LogReader,
    method: str,
    path: str,
    route: str | None,
    status: int,
) -> None:
    client = await error_routes_client()
    logs.read()

    response = await client.request(method, path)

    (line,) = logs.events("http.request")
    assert line["method"] == method
    assert line["path"] == path
    assert line["route"] == route
    assert line["status"] == status == response.status_code
    assert isinstance(line["duration_ms"], float)
    assert line["duration_ms"] >= 0
    assert line["client"] == "203.0.113.7"
    assert line["correlation_id"] == response.headers["x-request-id"]
    assert line["level"] == "info"
    assert line["logger"] == "graphnode.access"


async def test_every_line_in_a_request_carries_the_context(
    error_routes_client: ClientFactory, logs: LogReader
) -> None:
    client = await error_routes_client()
    before = len(logs.read())

    await client.get("/test/items/3", headers={"X-Request-ID": "ctx-line-01", "X-Test-User": "bob"})

    lines = logs.read()[before:]
    # Every line written while the request was in flight, whatever its logger.
    assert all(line["correlation_id"] == "ctx-line-01" for line in lines)
    assert all(line["user_id"] == "bob" for line in lines)
    assert all({"timestamp", "level", "logger"} <= line.keys() for line in lines)
    events = {line["event"] for line in lines}
    # structlog, a stdlib logger (uvicorn's) and the access line all reached the same stream.
    assert {"item.read", "stdlib line inside a request", "http.request"} <= events
    # The access line is written on its own fast path: it still carries what the shared
    # processors add to every other line, in the same format.
    (access,) = (line for line in lines if line["event"] == "http.request")
    (item,) = (line for line in lines if line["event"] == "item.read")
    access_fields = {"method", "route", "path", "status", "duration_ms", "client"}
    assert set(access) - access_fields == set(item) - {"item_id"}
    # One timestamp format on every line: UTC, ISO 8601, always six fractional digits.
    now = datetime.now(UTC)
    for line in lines:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", line["timestamp"])
        stamped = datetime.fromisoformat(line["timestamp"])
        assert abs((stamped - now).total_seconds()) < 60


async def test_lines_outside_a_request_have_null_ids(
    logs: LogReader, settings_factory: SettingsFactory
) -> None:
    configure_logging(settings_factory())

    structlog.get_logger("tests").info("outside")

    (line,) = logs.events("outside")
    assert line["correlation_id"] is None
    assert line["user_id"] is None
    assert "trace_id" not in line


async def test_credentials_never_reach_the_logs(
    error_routes_client: ClientFactory, logs: LogReader
) -> None:
    client = await error_routes_client()

    await client.get(
        "/test/items/1?token=query-secret-123&api_key=query-secret-456",
        headers={"Authorization": "Bearer header-secret-789", "Cookie": "session=cookie-secret"},
    )
    await client.get("/nowhere?access_token=query-secret-000")
    logs.read()

    for secret in ("query-secret", "header-secret", "cookie-secret"):
        assert secret not in logs.text


def test_sensitive_fields_are_redacted(logs: LogReader, settings_factory: SettingsFactory) -> None:
    configure_logging(settings_factory())

    structlog.get_logger("tests").info(
        "with secrets",
        password="pw-1",
        api_key="key-2",
        headers={"Authorization": "Bearer tok-3", "Accept": "json"},
        count=3,
    )

    (line,) = logs.events("with secrets")
    assert line["password"] == line["api_key"] == "[redacted]"
    assert line["headers"] == {"Authorization": "[redacted]", "Accept": "json"}
    assert line["count"] == 3


def test_stdlib_loggers_are_routed_and_uvicorn_access_is_off(
    logs: LogReader, settings_factory: SettingsFactory
) -> None:
    configure_logging(settings_factory())

    logging.getLogger("uvicorn.error").info("server says hi")
    logging.getLogger("sqlalchemy.engine.Engine").info("SELECT secret_column")
    logging.getLogger("uvicorn.access").info('127.0.0.1 - "GET / HTTP/1.1" 200')
    logging.getLogger("taskiq.receiver").warning("taskiq warns")

    events = [line["event"] for line in logs.read()]
    assert events == ["server says hi", "taskiq warns"]


def test_exception_lines_render_the_traceback_as_a_string(
    logs: LogReader, settings_factory: SettingsFactory
) -> None:
    configure_logging(settings_factory())

    try:
        raise ValueError("kaput")
    except ValueError:
        structlog.get_logger("tests").exception("it failed")

    (line,) = logs.events("it failed")
    assert line["level"] == "error"
    assert "ValueError: kaput" in line["exception"]


def test_console_format_in_development(
    capsys: pytest.CaptureFixture[str], settings_factory: SettingsFactory
) -> None:
    settings = settings_factory(log_format=None, environment="development")
    configure_logging(settings)

    structlog.get_logger("tests").info("pretty", answer=42)

    err = capsys.readouterr().err
    assert "pretty" in err
    assert "answer=42" in err
    assert not err.lstrip().startswith("{")


def test_json_is_the_default_outside_development() -> None:
    settings = Settings(
        _env_file=None, environment=Environment.STAGING, jwt_secret=SecretStr("x" * 40)
    )

    assert settings.resolved_log_format == "json"


async def test_client_disconnect_is_logged_once_as_499_without_an_error(
    settings_factory: SettingsFactory, logs: LogReader
) -> None:
    from tests.error_routes import add_test_routes

    app = add_test_routes(create_app(settings_factory()))
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/test/echo-body",
        "raw_path": b"/test/echo-body",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-length", b"10")],
        "client": ("198.51.100.1", 4000),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)  # type: ignore[arg-type]

    (line,) = logs.events("http.request")
    assert line["status"] == 499
    assert line["disconnected"] is True
    assert line["route"] == "/test/echo-body"
    assert logs.events("request.failed") == []


def test_server_duplicate_of_a_reported_error_is_dropped(
    logs: LogReader, settings_factory: SettingsFactory
) -> None:
    from app.core.logging import mark_reported

    configure_logging(settings_factory())
    reported, other = RuntimeError("reported"), RuntimeError("not reported")
    mark_reported(reported)

    for exc in (reported, other):
        logging.getLogger("uvicorn.error").error("Exception in ASGI application", exc_info=exc)

    (line,) = logs.events("Exception in ASGI application")
    assert "not reported" in line["exception"]

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import sentry_sdk

from app.core import audit
from app.core.audit import audited
from app.core.context import bind_request_context
from app.core.logging import configure_logging
from app.core.sentry import init_sentry
from tests.conftest import LogReader, SettingsFactory
from tests.local_http import SentryIngest


class Boom(Exception):
    pass


@audited
class SampleService:
    def add(self, a: int, b: int) -> int:
        return a + b

    async def fetch(self, key: str) -> str:
        return key.upper()

    async def fail(self) -> None:
        raise Boom("no")

    async def stream(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i

    @staticmethod
    def static(value: int) -> int:
        return value * 2

    @classmethod
    def create(cls) -> str:
        return cls.__name__

    def _private(self) -> int:
        return 1


@audited(log_args=True)
class LoginService:
    def login(self, user: str, password: str, api_key: str | None = None) -> bool:
        return True


@audited(log_args=True)
class OptionsService:
    def configure(self, name: str, *values: str, **options: str) -> None:
        return None


@pytest.fixture(autouse=True)
def _json_logs(settings_factory: SettingsFactory) -> None:
    configure_logging(settings_factory())


def audit_lines(logs: LogReader) -> list[dict[str, Any]]:
    return [line for line in logs.read() if line["event"].startswith("audit.")]


async def test_async_call_logs_call_then_success_with_context(logs: LogReader) -> None:
    with bind_request_context(correlation_id="audit-0001", user_id="alice", job_id="job-7"):
        assert await SampleService().fetch("k") == "K"

    call, success = audit_lines(logs)
    assert (call["event"], success["event"]) == ("audit.call", "audit.success")
    for line in (call, success):
        assert (line["service"], line["method"]) == ("SampleService", "fetch")
        assert (line["correlation_id"], line["user_id"], line["job_id"]) == (
            "audit-0001",
            "alice",
            "job-7",
        )
        assert "args" not in line
    assert success["duration_ms"] >= 0


def test_sync_static_and_class_methods_are_audited(logs: LogReader) -> None:
    service = SampleService()

    assert service.add(2, 3) == 5
    assert SampleService.static(4) == 8
    assert SampleService.create() == "SampleService"
    assert service._private() == 1

    methods = [line["method"] for line in audit_lines(logs) if line["event"] == "audit.success"]
    assert methods == ["add", "static", "create"]


async def test_errors_are_logged_and_re_raised_unchanged(logs: LogReader) -> None:
    with pytest.raises(Boom) as raised:
        await SampleService().fail()

    assert str(raised.value) == "no"
    _, error = audit_lines(logs)
    assert error["event"] == "audit.error"
    assert error["error_type"] == "Boom"
    assert error["outcome"] == "error"
    assert error["level"] == "warning"  # not an error event of its own in Sentry
    assert error["duration_ms"] >= 0
    assert "no" not in str(error.get("args", ""))


async def test_async_generators_are_audited_over_their_whole_iteration(logs: LogReader) -> None:
    items = [item async for item in SampleService().stream(3)]

    assert items == [0, 1, 2]
    _, success = audit_lines(logs)
    assert success["items"] == 3


async def test_async_generator_closed_early_is_not_an_error(logs: LogReader) -> None:
    stream = SampleService().stream(10)
    async for item in stream:
        if item == 1:
            break
    await stream.aclose()  # type: ignore[attr-defined]

    _, closed = audit_lines(logs)
    assert closed["event"] == "audit.success"
    assert closed["closed_early"] is True


def test_argument_values_only_with_log_args_and_sensitive_names_redacted(logs: LogReader) -> None:
    LoginService().login("alice", password="hunter2", api_key="sk-123")

    call = audit_lines(logs)[0]
    assert call["args"] == {"user": "'alice'", "password": "[redacted]", "api_key": "[redacted]"}
    assert "hunter2" not in logs.text
    assert "sk-123" not in logs.text


async def test_a_failing_audit_never_fails_the_call(monkeypatch: pytest.MonkeyPatch) -> None:
    class BrokenLogger:
        def __getattr__(self, name: str) -> Any:
            raise RuntimeError("log sink down")

    monkeypatch.setattr(audit, "log", BrokenLogger())

    assert await SampleService().fetch("still works") == "STILL WORKS"
    assert SampleService().add(1, 1) == 2


def test_variadic_arguments_are_redacted_by_their_own_names(logs: LogReader) -> None:
    OptionsService().configure("db", "hunter2-positional", password="hunter2", region="eu")

    call = audit_lines(logs)[0]
    assert call["args"] == {
        "name": "'db'",
        "values": "[1 positional values omitted]",
        "password": "[redacted]",
        "region": "'eu'",
    }
    assert "hunter2" not in logs.text


async def test_a_failing_sentry_span_never_fails_the_call(
    monkeypatch: pytest.MonkeyPatch, sentry_ingest: SentryIngest, settings_factory: SettingsFactory
) -> None:
    init_sentry(settings_factory(sentry_dsn=sentry_ingest.dsn), component="api")
    attempts: list[str] = []

    def broken_span(**kwargs: Any) -> Any:
        attempts.append(kwargs["name"])
        raise RuntimeError("sentry down")

    monkeypatch.setattr(sentry_sdk, "start_span", broken_span)

    assert await SampleService().fetch("x") == "X"
    assert [item async for item in SampleService().stream(2)] == [0, 1]
    assert attempts == ["SampleService.fetch", "SampleService.stream"]


async def test_no_span_is_built_while_sentry_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []

    def counted_span(**kwargs: Any) -> Any:
        built.append(kwargs["name"])
        return real_start_span(**kwargs)

    real_start_span = sentry_sdk.start_span
    monkeypatch.setattr(sentry_sdk, "start_span", counted_span)

    assert await SampleService().fetch("x") == "X"
    assert [item async for item in SampleService().stream(2)] == [0, 1]
    assert built == []

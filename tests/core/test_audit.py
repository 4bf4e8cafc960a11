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
    async def fetch(self, key: str) -> str:
        return key.upper()

    async def fail(self) -> None:
        raise Boom("no")

    def _private(self) -> int:
        return 1


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


def test_private_methods_are_not_audited(logs: LogReader) -> None:
    assert SampleService()._private() == 1

    assert audit_lines(logs) == []


@pytest.mark.parametrize(
    "method",
    [
        lambda self: None,
        staticmethod(lambda: None),
        classmethod(lambda cls: None),
    ],
    ids=["sync", "static", "class"],
)
def test_only_async_instance_methods_can_be_audited(method: object) -> None:
    with pytest.raises(TypeError, match=r"Service\.run"):
        audited(type("Service", (), {"run": method}))


def test_async_generators_cannot_be_audited() -> None:
    class Streams:
        async def stream(self) -> AsyncIterator[int]:
            yield 1

    with pytest.raises(TypeError, match=r"Streams\.stream"):
        audited(Streams)


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


async def test_a_failing_audit_never_fails_the_call(monkeypatch: pytest.MonkeyPatch) -> None:
    class BrokenLogger:
        def __getattr__(self, name: str) -> Any:
            raise RuntimeError("log sink down")

    monkeypatch.setattr(audit, "log", BrokenLogger())

    assert await SampleService().fetch("still works") == "STILL WORKS"


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
    assert attempts == ["SampleService.fetch"]


async def test_no_span_is_built_while_sentry_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []

    def counted_span(**kwargs: Any) -> Any:
        built.append(kwargs["name"])
        return real_start_span(**kwargs)

    real_start_span = sentry_sdk.start_span
    monkeypatch.setattr(sentry_sdk, "start_span", counted_span)

    assert await SampleService().fetch("x") == "X"
    assert built == []

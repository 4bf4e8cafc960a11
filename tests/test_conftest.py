"""The fixtures' own contract: how a service-backed test finds (or refuses) its service."""

from __future__ import annotations

import pytest

from tests.conftest import service_url


@pytest.mark.parametrize(
    ("variable", "url", "message"),
    [
        (
            "TEST_DATABASE_URL",
            "postgresql://postgres@127.0.0.1:5432/test",
            "TEST_DATABASE_URL must start with postgresql+asyncpg://",
        ),
        (
            "TEST_REDIS_URL",
            "127.0.0.1:6379",
            "TEST_REDIS_URL must start with redis:// or rediss://",
        ),
        (
            "TEST_AMQP_URL",
            "http://127.0.0.1:5672/",
            "TEST_AMQP_URL must start with amqp:// or amqps://",
        ),
    ],
)
def test_a_service_url_with_the_wrong_driver_fails_in_one_line(
    monkeypatch: pytest.MonkeyPatch, variable: str, url: str, message: str
) -> None:
    monkeypatch.setenv(variable, url)

    with pytest.raises(pytest.fail.Exception) as failure:
        service_url(variable)

    assert str(failure.value) == message
    assert not failure.value.pytrace  # reported as that line, without a traceback


def test_a_service_url_with_the_right_driver_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")

    assert service_url("TEST_DATABASE_URL") == "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def test_a_missing_service_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_REDIS_URL", raising=False)
    monkeypatch.setenv("CI", "true")

    with pytest.raises(pytest.fail.Exception, match="TEST_REDIS_URL is not set"):
        service_url("TEST_REDIS_URL")

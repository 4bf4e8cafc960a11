from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.config import Environment, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("SENTRY_", "JWT_", "LOG_", "DATABASE_", "BROKER_", "CORS_")):
            monkeypatch.delenv(name)
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    monkeypatch.delenv("APP_VERSION", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_need_no_configuration() -> None:
    settings = load_settings()

    assert settings.environment is Environment.DEVELOPMENT
    assert settings.database_url.startswith("sqlite+aiosqlite://")
    assert settings.broker_url == "memory://"
    assert settings.sentry_dsn is None
    assert settings.spotlight is False


def test_values_come_from_the_environment_and_dotenv(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("LOG_LEVEL=debug\nCORS_ORIGINS=https://a.example\n")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("TRACE_PROPAGATION_TARGETS", "api.internal,llm.example")

    settings = load_settings()

    assert settings.log_level == "DEBUG"
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.trace_propagation_targets == ["api.internal", "llm.example"]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SENTRY_TRACES_SAMPLE_RATE", "5"),
        ("SENTRY_PROFILE_SESSION_SAMPLE_RATE", "-0.1"),
        ("SENTRY_DSN", "not-a-dsn-secretvalue"),
        ("ENVIRONMENT", "prod-ish"),
        ("LOG_FORMAT", "xml"),
        ("LOG_LEVEL", "LOUD"),
        ("DATABASE_URL", "mysql://u:secretvalue@h/db"),
        ("BROKER_URL", "kafka://secretvalue"),
        ("JWT_TTL_SECONDS", "-12345"),
    ],
)
def test_a_bad_value_names_the_setting_and_hides_the_value(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(SettingsError) as raised:
        load_settings()

    message = str(raised.value)
    assert message.startswith(f"invalid setting {variable}: ")
    assert "\n" not in message
    assert value not in message


@pytest.mark.parametrize("environment", ["staging", "production"])
@pytest.mark.parametrize("secret", ["change-me", "development-only-secret-never-deploy", "short"])
def test_placeholder_secrets_are_refused_outside_development(
    monkeypatch: pytest.MonkeyPatch, environment: str, secret: str
) -> None:
    monkeypatch.setenv("ENVIRONMENT", environment)
    monkeypatch.setenv("JWT_SECRET", secret)

    with pytest.raises(SettingsError, match="JWT_SECRET"):
        load_settings()


def test_a_real_secret_is_accepted_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("JWT_SECRET", "k" * 48)

    assert load_settings().environment is Environment.PRODUCTION


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", False),
        ("0", False),
        ("true", True),
        ("1", True),
        ("http://localhost:8969/stream", "http://localhost:8969/stream"),
    ],
)
def test_spotlight_setting(monkeypatch: pytest.MonkeyPatch, value: str, expected: object) -> None:
    monkeypatch.setenv("SENTRY_SPOTLIGHT", value)

    assert load_settings().spotlight == expected


def test_app_version_override_shapes_the_release(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_VERSION", "2.0.0+abc1234")
    assert load_settings().release == "graphnode-api@2.0.0+abc1234"
    monkeypatch.setenv("APP_VERSION", "custom@7")
    assert load_settings().release == "custom@7"


def test_server_start_up_fails_with_one_line_naming_the_setting(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRY_")}
    env["SENTRY_TRACES_SAMPLE_RATE"] = "7"

    result = subprocess.run(
        [sys.executable, "-c", "import app.main; app.main.app"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 3  # uvicorn's start-up failure status
    assert result.stderr.strip().splitlines() == [
        "graphnode-api: invalid setting SENTRY_TRACES_SAMPLE_RATE: "
        "Input should be less than or equal to 1"
    ]

"""Settings from the environment and `.env`, validated once at start-up."""

from __future__ import annotations

import enum
from typing import Annotated, Literal

from limits import RateLimitItem, parse_many
from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.core.release import release_name
from app.core.setting_types import (
    BrokerUrl,
    CommaList,
    DatabaseUrl,
    HttpUrl,
    LogLevel,
    QueueName,
    RateLimit,
    SentryDsn,
    StorageUrl,
    Unset,
)

# Values that must never reach a deployed environment.
_PLACEHOLDER_SECRETS = frozenset(
    {"", "change-me", "changeme", "secret", "development-only-secret-never-deploy"}
)
_MIN_SECRET_LENGTH = 32


class Environment(enum.StrEnum):
    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"


class LogFormat(enum.StrEnum):
    JSON = "json"
    CONSOLE = "console"


class SettingsError(Exception):
    """A setting has a bad value; the message names it and never includes the value."""


class ReleaseSettings(BaseSettings):
    """What naming the release needs, and all the release command reads: no runtime
    setting (secrets included) is read or checked to register a release."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    environment: Environment = Environment.DEVELOPMENT
    app_version: Annotated[str | None, Unset] = Field(
        default=None, max_length=200, pattern=r"^[A-Za-z0-9._:@+-]+$"
    )

    @property
    def release(self) -> str:
        """The release name shared by the SDK, the release command and /healthz."""
        return release_name(self.app_version)


class Settings(ReleaseSettings):
    """Every field is documented in `.env.example`; the variable is the upper-case name."""

    log_level: LogLevel = "INFO"
    log_format: LogFormat | None = None

    cors_origins: CommaList = []

    database_url: DatabaseUrl = "sqlite+aiosqlite:///./graphnode.db"
    database_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    database_auto_migrate: bool | None = None
    broker_url: BrokerUrl = "memory://"
    broker_queue: QueueName = "graphnode-jobs"
    broker_redelivery_seconds: int = Field(default=600, ge=1, le=86_400)
    broker_dead_letter_queue: Annotated[QueueName | None, Unset] = None
    job_max_attempts: int = Field(default=3, ge=1, le=20)
    job_retry_base_seconds: float = Field(default=1.0, ge=0, le=300)
    outbox_relay_interval_seconds: float = Field(default=5.0, gt=0, le=3600)

    sentry_dsn: SentryDsn = None
    sentry_traces_sample_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    sentry_profile_session_sample_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    sentry_spotlight: Annotated[str | None, Unset] = None
    trace_propagation_targets: CommaList = []

    jwt_secret: SecretStr = SecretStr("development-only-secret-never-deploy")
    jwt_issuer: str = "graphnode-api"
    jwt_audience: str = "graphnode-api"
    jwt_ttl_seconds: int = Field(default=3600, gt=0, le=7 * 24 * 3600)
    jwt_jwks_url: HttpUrl = None
    jwt_jwks_cache_seconds: int = Field(default=300, ge=1, le=86_400)
    jwt_jwks_min_refetch_seconds: float = Field(default=30.0, ge=0, le=3600)
    jwt_jwks_timeout_seconds: float = Field(default=5.0, gt=0, le=60)

    llm_provider: Literal["local", "openai"] = "local"
    llm_base_url: HttpUrl = None
    llm_api_key: Annotated[SecretStr | None, Unset] = None
    llm_model: str = "gpt-4o-mini"
    llm_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    llm_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    llm_deadline_seconds: float = Field(default=60.0, gt=0, le=900)
    llm_max_retries: int = Field(default=2, ge=0, le=10)
    llm_max_retry_wait_seconds: float = Field(default=10.0, ge=0, le=300)

    ai_max_text_chars: int = Field(default=50_000, ge=100, le=1_000_000)

    max_request_body_bytes: int = Field(default=1_048_576, ge=1024, le=1_073_741_824)

    rate_limit_default: RateLimit = "600/minute"
    rate_limit_ai: RateLimit = "60/minute"
    rate_limit_storage_url: StorageUrl = "memory://"

    @model_validator(mode="after")
    def _openai_needs_a_base_url(self) -> Settings:
        if self.llm_provider == "openai" and self.llm_base_url is None:
            raise ValueError("LLM_BASE_URL is required when LLM_PROVIDER=openai")
        return self

    @model_validator(mode="after")
    def _no_placeholder_secrets_when_deployed(self) -> Settings:
        if self.environment is Environment.DEVELOPMENT:
            return self
        secret = self.jwt_secret.get_secret_value()
        if secret in _PLACEHOLDER_SECRETS or len(secret) < _MIN_SECRET_LENGTH:
            raise ValueError(
                f"JWT_SECRET must be a real secret of at least {_MIN_SECRET_LENGTH} characters "
                f"outside development"
            )
        return self

    @property
    def resolved_log_format(self) -> LogFormat:
        if self.log_format is not None:
            return self.log_format
        if self.environment is Environment.DEVELOPMENT:
            return LogFormat.CONSOLE
        return LogFormat.JSON

    @property
    def auto_migrate(self) -> bool:
        """Apply migrations at start-up: by default only in development."""
        if self.database_auto_migrate is not None:
            return self.database_auto_migrate
        return self.environment is Environment.DEVELOPMENT

    @property
    def default_rate_limit(self) -> RateLimitItem:
        return parse_many(self.rate_limit_default)[0]

    @property
    def ai_rate_limit(self) -> RateLimitItem:
        return parse_many(self.rate_limit_ai)[0]

    @property
    def spotlight(self) -> bool | str:
        """`SENTRY_SPOTLIGHT`: off, on (default local sidecar URL) or an explicit URL."""
        value = (self.sentry_spotlight or "").strip()
        if value.lower() in {"", "0", "false", "no", "off"}:
            return False
        if value.lower() in {"1", "true", "yes", "on"}:
            return True
        return value


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, raising SettingsError with one clear line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]  # overrides are validated here
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None


def load_release_settings() -> ReleaseSettings:
    """The release command's settings (ENVIRONMENT, APP_VERSION), raising SettingsError."""
    try:
        return ReleaseSettings()
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        name = "_".join(str(part) for part in error["loc"]).upper() or "SETTINGS"
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{name}: {message}" if error["loc"] else message)
    return "invalid setting " + "; ".join(problems)

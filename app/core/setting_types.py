"""The value types of settings: each parses and checks what one environment variable may
hold, with a message that names the rule and never the value."""

from __future__ import annotations

from typing import Annotated, Literal

from limits import parse_many
from pydantic import AfterValidator, BeforeValidator, StringConstraints
from pydantic_settings import NoDecode
from sentry_sdk.utils import BadDsn, Dsn


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _blank_is_unset(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def _starting_with(*prefixes: str, named: str) -> AfterValidator:
    def check(value: str) -> str:
        if not value.startswith(prefixes):
            raise ValueError(f"must start with {named}")
        return value

    return AfterValidator(check)


def _http_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/") if value is not None else None


def _sentry_dsn(value: str | None) -> str | None:
    if value is not None:
        try:
            Dsn(value)
        except BadDsn:
            raise ValueError("not a valid Sentry DSN") from None
    return value


def _one_rate_limit(value: str) -> str:
    try:
        items = parse_many(value)
    except ValueError:
        items = []
    if len(items) != 1 or items[0].amount < 1:
        raise ValueError("must be one limit such as 600/minute or 10 per second")
    return value


CommaList = Annotated[list[str], NoDecode, BeforeValidator(_split_csv)]
# An empty or blank value means the setting is unset.
Unset = BeforeValidator(_blank_is_unset)
LogLevel = Annotated[
    Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
    BeforeValidator(lambda value: value.upper() if isinstance(value, str) else value),
]
QueueName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,100}$")]
DatabaseUrl = Annotated[
    str,
    _starting_with(
        "sqlite+aiosqlite://",
        "postgresql+asyncpg://",
        named="sqlite+aiosqlite:// or postgresql+asyncpg://",
    ),
]
BrokerUrl = Annotated[
    str,
    _starting_with(
        *("memory://", "redis://", "rediss://", "amqp://", "amqps://", "sqs://"),
        named="memory://, redis://, amqp:// or sqs://",
    ),
]
StorageUrl = Annotated[
    str,
    _starting_with("memory://", "redis://", "rediss://", named="memory://, redis:// or rediss://"),
]
HttpUrl = Annotated[str | None, Unset, AfterValidator(_http_url)]
SentryDsn = Annotated[str | None, Unset, AfterValidator(_sentry_dsn)]
RateLimit = Annotated[str, AfterValidator(_one_rate_limit)]

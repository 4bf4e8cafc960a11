"""Start-up checks that end a process with one line naming the setting at fault.

A dependency the process cannot run without (the broker; the database when migrations run
at start-up) is reached once at start-up, bounded by a timeout. If it cannot be reached the
process prints `<process>: cannot reach <SETTING> <url without password>: <reason>` and
exits non-zero, instead of a traceback that never names the setting.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable
from typing import TypeVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

_T = TypeVar("_T")

# uvicorn's exit status for "failed before serving": its supervisor (WEB_CONCURRENCY > 1)
# then stops instead of starting the same failing child again.
STARTUP_FAILURE_EXIT_CODE = 3

# Query parameters that say where a service is; any other one may carry a credential.
_LOCATION_PARAMETERS = frozenset({"endpoint_url"})

# PostgreSQL refusals at connection time (SQLSTATE): the server answers, the setting is wrong.
_REFUSALS = {
    "28000": "authentication failed",
    "28P01": "authentication failed",
    "3D000": "the database does not exist",
}


class DependencyUnreachable(Exception):
    """A dependency named by a setting could not be reached at start-up."""

    def __init__(self, setting: str, url: str, reason: str) -> None:
        super().__init__(f"cannot reach {setting} {redact_url(url)}: {reason}")
        self.setting = setting


def redact_url(url: str) -> str:
    """The URL with its password masked and only location query parameters kept."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if ":" in netloc:  # an IPv6 literal
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    if parts.username:
        user = parts.username + (":***" if parts.password is not None else "")
        netloc = f"{user}@{netloc}"
    query = "&".join(
        f"{key}={value}" for key, value in parse_qsl(parts.query) if key in _LOCATION_PARAMETERS
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _reason(error: BaseException, timeout: float) -> str | None:
    """Why a connection failed, if the error (or one it was raised from) says so."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, TimeoutError):
            return f"no answer within {timeout:g} s"
        if isinstance(current, socket.gaierror):
            return "the host name does not resolve"
        if isinstance(current, OSError) and current.errno is not None:
            return os.strerror(current.errno).lower()
        reason = _REFUSALS.get(getattr(current, "sqlstate", None) or "")
        # redis-py's AuthenticationError, aiormq's ProbableAuthenticationError: matched by
        # name so that core/ needs none of the client libraries.
        if reason is None and "AuthenticationError" in type(current).__name__:
            reason = "authentication failed"
        if reason is not None:
            return reason
        current = current.__cause__ or current.__context__
    return None


async def reach(setting: str, url: str, operation: Awaitable[_T], *, timeout_seconds: float) -> _T:
    """Await `operation` (which connects to the service at `url`) within the timeout.

    A connection failure or timeout becomes DependencyUnreachable; anything else (a bug, a
    failing migration) propagates unchanged.
    """
    try:
        return await asyncio.wait_for(operation, timeout_seconds)
    except Exception as error:
        reason = _reason(error, timeout_seconds)
        if reason is None:
            raise
        raise DependencyUnreachable(setting, url, reason) from error

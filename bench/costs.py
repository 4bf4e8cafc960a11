"""Per-call costs of pieces of our request path, each against the plain way, alternating.

    .venv/bin/python -m bench.costs

CPU microseconds per call (process time, median of 7 alternating batches): our bearer-token
verification against a bare `jwt.decode` of the same token, and an `@audited` service
method (its two audit lines and span, production JSON logging to /dev/null) against the
same coroutine unwrapped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import time
from collections.abc import Callable

import jwt

from bench.run import JWT_SECRET

BATCHES = 7


def per_call_us(function: Callable[[], object], calls: int) -> float:
    started = time.process_time()
    for _ in range(calls):
        function()
    return (time.process_time() - started) * 1e6 / calls


def compare(name: str, ours: Callable[[], object], plain: Callable[[], object], calls: int) -> None:
    pairs = [(per_call_us(plain, calls), per_call_us(ours, calls)) for _ in range(BATCHES)]
    extra = statistics.median(b - a for a, b in pairs)
    print(
        f"{name}: plain {statistics.median(a for a, _ in pairs):.1f} µs, ours "
        f"{statistics.median(b for _, b in pairs):.1f} µs, extra {extra:+.1f} µs per call"
    )


def main() -> None:
    os.environ.update(JWT_SECRET=JWT_SECRET, LOG_FORMAT="json", ENVIRONMENT="production")
    from app.core.audit import audited
    from app.core.config import Settings
    from app.core.logging import configure_logging
    from app.core.security import create_access_token, decode_user_id

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    token = create_access_token("bench", settings)
    compare(
        "JWT verification",
        lambda: decode_user_id(token, settings),
        lambda: jwt.decode(
            token, JWT_SECRET, ["HS256"], audience="graphnode-api", issuer="graphnode-api"
        ),
        2000,
    )

    class Service:
        async def get(self, node_id: int) -> int:
            return node_id

    @audited
    class AuditedService:
        async def get(self, node_id: int) -> int:
            return node_id

    plain_service, audited_service = Service(), AuditedService()
    loop = asyncio.new_event_loop()
    with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull):
        configure_logging(settings)
        compare(
            "@audited call (two lines, a span)",
            lambda: loop.run_until_complete(audited_service.get(1)),
            lambda: loop.run_until_complete(plain_service.get(1)),
            2000,
        )
    loop.close()


if __name__ == "__main__":
    main()

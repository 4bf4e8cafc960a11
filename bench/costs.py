"""Per-call costs of pieces of our request path, each against the plain way, alternating.

    .venv/bin/python -m bench.costs

CPU microseconds per call (process time, median of 7 alternating batches): our bearer-token
verification against a bare `jwt.decode` of the same token, and an `@audited` service
method (its two audit lines and span, production JSON logging to /dev/null) against the
same coroutine unwrapped. With TEST_DATABASE_URL, on a database seeded as by
`bench.realroute`: reading a node with its tags through a session (as our repository does)
with the pool's pre-ping against without, and as two statements (the relationship's
`selectin` load) against one (a joined load); these also give wall time per call, which
counts the round trips.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import time
import uuid
from collections.abc import Callable

import jwt
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.run import JWT_SECRET, postgres_database

BATCHES = 7


def per_call_us(function: Callable[[], object], calls: int) -> tuple[float, float]:
    """(CPU, wall) microseconds per call."""
    started, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        function()
    done = time.process_time() - started, time.perf_counter() - wall
    return done[0] * 1e6 / calls, done[1] * 1e6 / calls


def compare(name: str, ours: Callable[[], object], plain: Callable[[], object], calls: int) -> None:
    pairs = [(per_call_us(plain, calls), per_call_us(ours, calls)) for _ in range(BATCHES)]
    cpu = [(a[0], b[0]) for a, b in pairs]
    wall = statistics.median(b[1] - a[1] for a, b in pairs)
    print(
        f"{name}: CPU {statistics.median(a for a, _ in cpu):.1f} → "
        f"{statistics.median(b for _, b in cpu):.1f} µs, extra "
        f"{statistics.median(b - a for a, b in cpu):+.1f} µs per call (wall {wall:+.1f} µs)"
    )


def database_costs(url: str, calls: int) -> None:
    from sqlalchemy import select
    from sqlalchemy.orm import joinedload

    from app.core.db import create_engine, create_session_factory
    from app.models import Node
    from bench.realroute import USER, _migrate_and_seed

    loop = asyncio.new_event_loop()
    node_id = uuid.UUID(loop.run_until_complete(_migrate_and_seed(url)))
    ours = create_engine(url)
    pinging = create_async_engine(url, pool_pre_ping=True)
    by_id = (Node.id == node_id, Node.owner_id == USER)

    def read(engine: AsyncEngine, joined: bool) -> Callable[[], object]:
        sessions = create_session_factory(engine)
        statement = select(Node).where(*by_id)
        if joined:
            statement = statement.options(joinedload(Node.tag_rows))

        async def once() -> None:
            async with sessions() as session:
                node = (await session.execute(statement)).unique().scalar_one()
                assert node.tags == ["a", "b"]
                await session.commit()

        return lambda: loop.run_until_complete(once())

    compare("pool_pre_ping", read(pinging, True), read(ours, True), calls)
    compare("node + tags in two statements", read(ours, False), read(ours, True), calls)
    for engine in (ours, pinging):
        loop.run_until_complete(engine.dispose())
    loop.close()


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
    if os.environ.get("TEST_DATABASE_URL"):
        with postgres_database("costs") as url:
            database_costs(url, 300)


if __name__ == "__main__":
    main()

"""In-process probe of our real routes: statements per request, CPU per request, a profile.

    TEST_DATABASE_URL=... .venv/bin/python -m bench.probe                 # PostgreSQL
    .venv/bin/python -m bench.probe --sqlite                              # development mode
    .venv/bin/python -m bench.probe --sentry 0.1 --profile 25             # top 25 by own time

Builds our app from the environment (production settings), seeds a database as
`bench.realroute` does, then sends requests through its ASGI interface (no HTTP server):
the SQL statements each request executes (SQLAlchemy's `before_cursor_execute`, plus the
pool's checkout pings), the process CPU time per request, and optionally a cProfile of
the requests. Sentry, when on, sends to a local ingest that only counts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import pstats
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import event

from bench.realroute import USER, WRITE_BODY, _migrate_and_seed
from bench.run import JWT_SECRET, Ingest, postgres_database

JSON = {"Content-Type": "application/json"}


async def probe(url: str, requests: int, profile: int) -> None:
    from app.core.config import Settings
    from app.core.security import create_access_token
    from app.main import create_app

    node_id = await _migrate_and_seed(url)
    os.environ.update(DATABASE_URL=url, DATABASE_AUTO_MIGRATE="false", JWT_SECRET=JWT_SECRET)
    os.environ.setdefault("ENVIRONMENT", "production")
    settings = Settings()
    app = create_app(settings)
    token = create_access_token(USER, settings)
    headers = {"Authorization": f"Bearer {token}"}
    async with app.router.lifespan_context(app):
        engine = app.state.engine
        statements: list[str] = []
        event.listen(
            engine.sync_engine,
            "before_cursor_execute",
            lambda _c, _cur, sql, *_: statements.append(sql.split("\n")[0][:90]),
        )
        event.listen(engine.sync_engine.pool, "checkout", lambda *_: statements.append("(ping)"))
        for name in ("begin", "commit", "rollback"):
            event.listen(engine.sync_engine, name, lambda *_, n=name: statements.append(n.upper()))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for route, method, path in (
                ("read", "GET", f"/v1/nodes/{node_id}"),
                ("write", "POST", "/v1/nodes"),
            ):
                body = WRITE_BODY.encode() if method == "POST" else None

                async def send(method: str = method, path: str = path, body: bytes | None = body):
                    response = await client.request(
                        method, path, headers=headers | JSON, content=body
                    )
                    assert response.status_code < 300, response.text

                for _ in range(50):
                    await send()
                statements.clear()
                await send()
                pinged = statements.count("(ping)")
                sql = [s for s in statements if s != "(ping)"]
                print(f"{route}: {len(sql)} statements, {pinged} pool checkout(s)")
                for line in sql:
                    print(f"    {line}")
                profiler = cProfile.Profile() if profile else None
                cpu = time.process_time()
                if profiler:
                    profiler.enable()
                for _ in range(requests):
                    await send()
                if profiler:
                    profiler.disable()
                cpu = time.process_time() - cpu
                print(f"{route}: {cpu * 1e6 / requests:.0f} µs CPU per request (in-process)")
                if profiler:
                    stats = pstats.Stats(profiler)
                    stats.sort_stats("tottime").print_stats(profile)
                    stats.sort_stats("cumulative").print_stats(profile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--sentry", type=float, help="Sentry on at this traces sample rate")
    parser.add_argument("--profile", type=int, default=0, help="print the top N functions")
    args = parser.parse_args()
    if args.sentry is not None:
        ingest = Ingest()
        os.environ.update(SENTRY_DSN=ingest.dsn, SENTRY_TRACES_SAMPLE_RATE=str(args.sentry))
    os.environ.setdefault("LOG_FORMAT", "json")
    os.environ.setdefault("RATE_LIMIT_DEFAULT", "1000000000/minute")
    with contextlib.ExitStack() as stack:
        if args.sqlite:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            url = f"sqlite+aiosqlite:///{folder / 'probe.db'}"
        else:
            url = stack.enter_context(postgres_database("probe"))
        # The access and audit lines go to stderr: keep them out of the report.
        devnull = stack.enter_context(open(os.devnull, "w"))
        stack.enter_context(contextlib.redirect_stderr(devnull))
        asyncio.run(probe(url, args.requests, args.profile))


if __name__ == "__main__":
    main()

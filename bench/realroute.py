"""A real route, ours against the app a team would write without observability.

    TEST_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \
        .venv/bin/python -m bench.realroute                    # 5 rounds of 10 s (~25 min)
    ... -m bench.realroute --rounds 3 --seconds 3 --only ours-off,ours-prod   # a quick look

Every server (uvicorn, one process) gets a PostgreSQL database of its own on
TEST_DATABASE_URL's server, migrated by our migrations and seeded with one user owning
10,000 nodes (two tags each). wrk (32 connections) drives `GET /v1/nodes/{id}` and
`POST /v1/nodes`, every request with the same HS256 bearer token. In each round, for each
route and each variant, the plain app runs, then the variant (paired, so both see the same
machine noise); `plain-b` (a second plain app) is the A-vs-A control. Reported per route and
variant: the median (min-max) of the per-round req/s ratios and of the server-CPU-per-request
ratios against the plain app, the extra CPU microseconds per request, and peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import run
from bench.run import (
    JWT_SECRET,
    Ingest,
    Run,
    Server,
    Variant,
    _serve,
    drive,
    postgres_database,
)

NODES = 10_000
USER = "bench"
PLAIN = "bench.plain_app:create_app"
USUAL = "bench.usual_app:create_app"
OURS = "app.main:create_app"
WRITE_BODY = '{"title": "A new node", "body": "' + "x" * 200 + '", "tags": ["a", "b"]}'
PROD = {"SENTRY_TRACES_SAMPLE_RATE": "0.1"}

VARIANTS = [
    Variant("plain-b", PLAIN),  # A-vs-A control: the noise
    Variant("usual-prod", USUAL, env=PROD, sentry=True),
    Variant("ours-off", OURS),
    Variant("ours-prod", OURS, env=PROD, sentry=True),
    Variant("ours-trace", OURS, env={"SENTRY_TRACES_SAMPLE_RATE": "1.0"}, sentry=True),
]
ROUTES = ("read", "write")


async def _migrate_and_seed(url: str) -> str:
    """Our schema and one user's 10,000 nodes; the id of the node the read route gets."""
    from sqlalchemy import insert

    from app.core.db import create_engine, migrate
    from app.models import Node, NodeTag
    from bench.growth import node_row

    engine = create_engine(url)
    try:
        await migrate(engine)
        start = datetime.now(UTC) - timedelta(days=1)
        nodes, tags = [], []
        for i in range(NODES):
            node_id, title, body = uuid.uuid4(), f"Node {i}", f"Body of node {i}. " * 10
            nodes.append(node_row(node_id, USER, title, body, start + timedelta(seconds=i)))
            tags += [{"node_id": node_id, "tag": t, "position": p} for p, t in enumerate("ab")]
        async with engine.begin() as connection:
            await connection.execute(insert(Node.__table__), nodes)
            await connection.execute(insert(NodeTag.__table__), tags)
        return str(nodes[NODES // 2]["id"])
    finally:
        await engine.dispose()


@contextlib.contextmanager
def start(variant: Variant, ingest: Ingest, workdir: Path, token: str) -> Iterator[Server]:
    with postgres_database(variant.name) as url:
        node_id = asyncio.run(_migrate_and_seed(url))
        env = {**variant.env, "DATABASE_URL": url, "DATABASE_AUTO_MIGRATE": "false"}
        with _serve(variant, env, ingest, workdir, None) as server:
            server.headers = {"Authorization": f"Bearer {token}"}
            server.path = f"/v1/nodes/{node_id}"
            yield server


def token_for(user: str = USER) -> str:
    """A bearer token as ours are minted (HS256, our issuer and audience), valid a day."""
    from app.core.config import Settings
    from app.core.security import create_access_token

    settings = Settings(_env_file=None, jwt_secret=JWT_SECRET, jwt_ttl_seconds=24 * 3600)  # type: ignore[call-arg]
    return create_access_token(user, settings)


def on_route(server: Server, route: str) -> Server:
    """The same server driven on the read or the write route."""
    if route == "read":
        return server
    variant = dataclasses.replace(
        server.variant, name=server.variant.name + "-write", method="POST", body=WRITE_BODY
    )
    return dataclasses.replace(server, variant=variant, path="/v1/nodes")


def _range(values: list[float], suffix: str = "x") -> str:
    return f"{statistics.median(values):.2f}{suffix} ({min(values):.2f}-{max(values):.2f})"


def table(pairs: dict[tuple[str, str], list[tuple[Run, Run]]], rss: dict[str, float]) -> str:
    lines = [
        "| variant vs plain | route | req/s ratio, median (min-max) | CPU/req ratio, "
        "median (min-max) | extra CPU µs/req | variant req/s | p99 ms (plain → variant) "
        "| failed | peak RSS MB (plain → variant) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (name, route), runs in pairs.items():
        cells = [
            name,
            route,
            _range([b.rps / a.rps for a, b in runs]),
            _range([b.cpu_us / a.cpu_us for a, b in runs]),
            f"{statistics.median(b.cpu_us - a.cpu_us for a, b in runs):+.0f}",
            f"{statistics.median(b.rps for _, b in runs):.0f}",
            f"{statistics.median(a.p99_ms for a, _ in runs):.1f} → "
            f"{statistics.median(b.p99_ms for _, b in runs):.1f}",
            str(sum(a.failed + b.failed for a, b in runs)),
            f"{rss['plain']:.0f} → {rss[name]:.0f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--only", default="", help="comma-separated variant names")
    parser.add_argument("--routes", default="read,write", help="read, write or both")
    parser.add_argument(
        "--app-root",
        type=Path,
        default=run.ROOT,
        help="serve the applications from this checkout (e.g. a git worktree of another commit)",
    )
    args = parser.parse_args()
    run.APP_ROOT = args.app_root.resolve()
    chosen = [v for v in VARIANTS if not args.only or v.name in args.only.split(",")]
    routes = [r for r in ROUTES if r in args.routes.split(",")]

    token = token_for()
    ingest = Ingest()
    pairs: dict[tuple[str, str], list[tuple[Run, Run]]] = {
        (v.name, r): [] for r in routes for v in chosen
    }
    with tempfile.TemporaryDirectory(prefix="graphnode-realroute-") as tmp:
        workdir = Path(tmp)
        with contextlib.ExitStack() as stack:
            plain = stack.enter_context(start(Variant("plain", PLAIN), ingest, workdir, token))
            servers = [stack.enter_context(start(v, ingest, workdir, token)) for v in chosen]
            for server in [plain, *servers]:  # warm-up
                for route in routes:
                    drive(on_route(server, route), 2, args.connections, workdir)
            for round_ in range(args.rounds):
                for route in routes:
                    for server in servers:
                        a = drive(on_route(plain, route), args.seconds, args.connections, workdir)
                        b = drive(on_route(server, route), args.seconds, args.connections, workdir)
                        pairs[(server.variant.name, route)].append((a, b))
                        print(
                            f"round {round_ + 1} {route:5} {server.variant.name:10} "
                            f"{b.rps / a.rps:.2f}x req/s, {b.cpu_us / a.cpu_us:.2f}x CPU/req "
                            f"({a.rps:.0f} vs {b.rps:.0f} req/s, failed {a.failed}/{b.failed})",
                            flush=True,
                        )
            time.sleep(2)
            rss = {s.variant.name: s.peak_rss_mb() for s in [plain, *servers]}
    print()
    print(table(pairs, rss))


if __name__ == "__main__":
    main()

"""Paired-round HTTP benchmark: each variant against bare FastAPI, side by side.

    .venv/bin/python -m bench.run                       # the full table (about 30 minutes)
    .venv/bin/python -m bench.run --seconds 3 --rounds 3 --only ours-off,ours-prod
    .venv/bin/python -m bench.run --soak 10              # production config, half rate
    TEST_DATABASE_URL=postgresql+asyncpg://... .venv/bin/python -m bench.run \
        --only node-pg-prod,node-pg-trace [--app-root /path/to/another/checkout]

Each comparison starts both servers under uvicorn on 127.0.0.1 (one process each), warms
them up, then alternates wrk runs (baseline, variant, baseline, variant, ...) so both see
the same machine noise. Reported per variant: the median (min-max) of the per-round ratios
of requests/s against the baseline, p50/p99 latency, server CPU microseconds per request
(from /proc) and its ratio to the baseline's (which moves far less than req/s when other
processes compete for the cores), peak RSS, and for Sentry variants how many transactions
reached the local ingest endpoint.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")
JWT_SECRET = "bench-secret-" + "x" * 32


def envelope_items(body: bytes) -> Iterator[tuple[dict[str, Any], bytes]]:
    """(item header, payload) pairs of a Sentry envelope (the first line is its header)."""
    _, _, rest = body.partition(b"\n")
    while rest.strip():
        line, _, rest = rest.partition(b"\n")
        if not line.strip():
            continue
        header = json.loads(line)
        length = header.get("length")
        if length is None:
            payload, _, rest = rest.partition(b"\n")
        else:
            payload, rest = rest[:length], rest[length + 1 :]
        yield header, payload


class Ingest:
    """A Sentry ingest endpoint that counts what arrives: transactions, error events, and
    what the SDK's client reports say it discarded (and why)."""

    def __init__(self) -> None:
        self.transactions = 0
        self.events = 0
        self.discarded: Counter[str] = Counter()  # "reason/category" -> quantity
        self._lock = threading.Lock()
        ingest = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real ingest: no connect per envelope
            # Without it the response's second segment waits for the SDK's delayed ACK
            # (Nagle): about 40 ms per envelope, a ceiling of ~25 envelopes/s per connection.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                with ingest._lock:
                    for header, payload in envelope_items(body):
                        kind = header.get("type")
                        ingest.transactions += kind == "transaction"
                        ingest.events += kind == "event"
                        if kind == "client_report":
                            for lost in json.loads(payload).get("discarded_events", []):
                                key = f"{lost['reason']}/{lost['category']}"
                                ingest.discarded[key] += lost["quantity"]
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def dsn(self) -> str:
        return f"http://public@127.0.0.1:{self.port}/1"

    def reset(self) -> None:
        with self._lock:
            self.transactions = self.events = 0
            self.discarded.clear()


class Blackhole:
    """A Sentry endpoint that is unreachable in the worst way: it accepts the connection
    (the kernel completes the handshake) and then never reads or answers."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(1024)
        self.port = self._socket.getsockname()[1]

    @property
    def dsn(self) -> str:
        return f"http://public@127.0.0.1:{self.port}/1"


@dataclass
class Variant:
    name: str
    factory: str
    path: str = "/items/1"
    method: str = "GET"
    body: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    sentry: bool = False
    seed_node: bool = False
    postgres: bool = False  # a database of its own on TEST_DATABASE_URL's server, not SQLite
    baseline: str = "bare-fastapi"
    rate: int | None = None  # fixed request rate (both sides) instead of saturation
    blackhole: bool = False  # Sentry's endpoint accepts connections and never answers
    succeeds: bool = True  # every response is a 2xx (False: the error paths)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    variant: Variant
    process: subprocess.Popen[bytes]
    port: int
    headers: dict[str, str] = field(default_factory=dict)
    path: str = ""

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def _status_mb(self, field: str) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) / 1024
        return 0.0

    def peak_rss_mb(self) -> float:
        return self._status_mb("VmHWM:")

    def rss_mb(self) -> float:
        return self._status_mb("VmRSS:")


# Where the served applications are imported from: this checkout, or `--app-root` (another
# commit's checkout, to measure before and after a change with the same harness).
APP_ROOT = ROOT


def app_environment(database: Path, extra: dict[str, str]) -> dict[str, str]:
    """The environment every benchmarked app runs in: production settings, JSON logs, its
    own SQLite file, plus the variant's own settings."""
    return {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(APP_ROOT),
        "LOG_FORMAT": "json",
        "JWT_SECRET": JWT_SECRET,
        "ENVIRONMENT": "production",
        "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "DATABASE_AUTO_MIGRATE": "true",
        # wrk is one client address: the limiter runs (its cost is measured) but never
        # refuses, so every variant serves the same 2xx responses.
        "RATE_LIMIT_DEFAULT": "1000000000/minute",
        "RATE_LIMIT_AI": "1000000000/minute",
        **extra,
    }


def _postgres(statement: str) -> None:
    import asyncio

    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def execute() -> None:
        engine = create_async_engine(os.environ["TEST_DATABASE_URL"])
        try:
            async with engine.connect() as connection:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                await connection.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(execute())


@contextlib.contextmanager
def postgres_database(name: str) -> Iterator[str]:
    """A database of its own on TEST_DATABASE_URL's server, dropped afterwards."""
    from sqlalchemy.engine import make_url

    if not os.environ.get("TEST_DATABASE_URL"):
        raise SystemExit("PostgreSQL variants need TEST_DATABASE_URL (a server to create on)")
    database = f"graphnode_bench_{name.replace('-', '_')}_{os.getpid()}"
    _postgres(f'CREATE DATABASE "{database}"')
    try:
        url = make_url(os.environ["TEST_DATABASE_URL"]).set(database=database)
        yield url.render_as_string(hide_password=False)
    finally:
        _postgres(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@contextlib.contextmanager
def serve(
    variant: Variant, ingest: Ingest, workdir: Path, blackhole: Blackhole | None = None
) -> Iterator[Server]:
    with contextlib.ExitStack() as stack:
        env_extra = dict(variant.env)
        if variant.postgres:
            env_extra["DATABASE_URL"] = stack.enter_context(postgres_database(variant.name))
        yield stack.enter_context(_serve(variant, env_extra, ingest, workdir, blackhole))


@contextlib.contextmanager
def _serve(
    variant: Variant,
    env_extra: dict[str, str],
    ingest: Ingest,
    workdir: Path,
    blackhole: Blackhole | None,
) -> Iterator[Server]:
    port = _free_port()
    env = app_environment(workdir / (variant.name + ".db"), env_extra)
    if variant.sentry:
        env["SENTRY_DSN"] = blackhole.dsn if variant.blackhole and blackhole else ingest.dsn
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            variant.factory,
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = Server(variant, process, port, path=variant.path)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{variant.name} did not start") from None
                time.sleep(0.2)
        if variant.seed_node:
            from app.core.config import Settings
            from app.core.security import create_access_token

            token = create_access_token("bench", Settings(_env_file=None, jwt_secret=JWT_SECRET))  # type: ignore[call-arg]
            server.headers = {"Authorization": f"Bearer {token}"}
            node = httpx.post(
                f"http://127.0.0.1:{port}/v1/nodes",
                json={"title": "Benchmark node", "body": "x" * 200, "tags": ["a", "b"]},
                headers=server.headers,
            ).json()
            server.path = variant.path.format(node_id=node["id"])
        yield server
    finally:
        process.terminate()
        process.wait(timeout=30)


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float
    requests: int
    failed: int = 0  # non-2xx/3xx responses and socket errors


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def drive(
    server: Server, seconds: float, connections: int, workdir: Path, rate: int | None = None
) -> Run:
    script = workdir / f"{server.variant.name}.lua"
    lines = [f'wrk.method = "{server.variant.method}"']
    if rate is not None:
        # wrk has no rate option; each connection waits between requests instead.
        lines.append(f"function delay() return {connections * 1000 / rate:.3f} end")
    if server.variant.body is not None:
        lines.append(f"wrk.body = '{server.variant.body}'")
        lines.append('wrk.headers["Content-Type"] = "application/json"')
    for name, value in server.headers.items():
        lines.append(f'wrk.headers["{name}"] = "{value}"')
    script.write_text("\n".join(lines) + "\n")
    cpu_before = server.cpu_seconds()
    output = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{server.port}{server.path}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cpu = server.cpu_seconds() - cpu_before
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    failed = int(non_2xx.group(1)) if non_2xx else 0
    failed += sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    return Run(rps, p50, p99, cpu * 1e6 / max(requests, 1), requests, failed)


FASTAPI = "bench.apps:bare_fastapi"
OURS = "bench.apps:ours"
FASTAPI_ROUTES = "bench.apps:fastapi_with_our_routes"
OFF: dict[str, str] = {}
ERRORS_ONLY = {"SENTRY_TRACES_SAMPLE_RATE": "0"}
PRODUCTION = {"SENTRY_TRACES_SAMPLE_RATE": "0.1"}
TRACING = {"SENTRY_TRACES_SAMPLE_RATE": "1.0"}
BAD_BODY = '{"title": 5}'

PEERS = "bench.apps:peer_stack"

VARIANTS = [
    Variant("bare-starlette", "bench.apps:bare_starlette"),
    Variant("ours-off", OURS, env=OFF),
    # Diagnostic: the same without the access line, against ours-off: the line's price.
    Variant("ours-off-quiet", OURS, env={"LOG_LEVEL": "WARNING"}, baseline="ours-off"),
    Variant("peers-off", PEERS, env=OFF),
    Variant("ours-errors", OURS, env=ERRORS_ONLY, sentry=True),
    Variant("ours-prod", OURS, env=PRODUCTION, sentry=True),
    Variant("peers-prod", PEERS, env=PRODUCTION, sentry=True),
    Variant("ours-trace", OURS, env=TRACING, sentry=True),
    Variant("peers-trace", PEERS, env=TRACING, sentry=True),
    Variant("fastapi-404", FASTAPI, path="/nope", baseline="bare-fastapi-404", succeeds=False),
    # The same, with our ~20 API routes in both apps: the price of routing, then of problems.
    Variant(
        "fastapi-routes-404",
        FASTAPI_ROUTES,
        path="/nope",
        baseline="bare-fastapi-404",
        succeeds=False,
    ),
    Variant("ours-404", OURS, path="/nope", baseline="fastapi-routes-404", succeeds=False),
    Variant(
        "fastapi-422",
        FASTAPI,
        path="/items",
        method="POST",
        body=BAD_BODY,
        baseline="bare-fastapi-422",
        succeeds=False,
    ),
    Variant(
        "ours-422",
        OURS,
        path="/items",
        method="POST",
        body=BAD_BODY,
        baseline="bare-fastapi-422",
        succeeds=False,
    ),
    # 200 req/s (well under saturation): does every sampled transaction arrive?
    Variant("ours-trace-200rps", OURS, env=TRACING, sentry=True, rate=200),
    # Sentry's endpoint accepts connections and never answers: requests must not notice.
    Variant(
        "ours-prod-blackholed",
        OURS,
        env=PRODUCTION,
        sentry=True,
        blackhole=True,
        baseline="ours-prod",
    ),
    Variant(
        "node-prod",
        OURS,
        path="/v1/nodes/{node_id}",
        env=PRODUCTION,
        sentry=True,
        seed_node=True,
        baseline="node-off",
    ),
    # The same route on PostgreSQL, against itself with Sentry off: what Sentry costs on a
    # real request (bearer token, audit, a query on a real database server).
    Variant(
        "node-pg-prod",
        OURS,
        path="/v1/nodes/{node_id}",
        env=PRODUCTION,
        sentry=True,
        seed_node=True,
        postgres=True,
        baseline="node-pg-off",
    ),
    Variant(
        "node-pg-trace",
        OURS,
        path="/v1/nodes/{node_id}",
        env=TRACING,
        sentry=True,
        seed_node=True,
        postgres=True,
        baseline="node-pg-off",
    ),
]
BASELINES = {
    "bare-fastapi": Variant("bare-fastapi", FASTAPI),
    "bare-fastapi-404": Variant("bare-fastapi-404", FASTAPI, path="/nope"),
    "bare-fastapi-422": Variant(
        "bare-fastapi-422", FASTAPI, path="/items", method="POST", body=BAD_BODY
    ),
    "fastapi-routes-404": Variant("fastapi-routes-404", FASTAPI_ROUTES, path="/nope"),
    "node-off": Variant("node-off", OURS, path="/v1/nodes/{node_id}", seed_node=True),
    "node-pg-off": Variant(
        "node-pg-off", OURS, path="/v1/nodes/{node_id}", seed_node=True, postgres=True
    ),
    "ours-prod": Variant("ours-prod", OURS, env=PRODUCTION, sentry=True),
    "ours-off": Variant("ours-off", OURS, env=OFF),
}


def _discarded(ingest: Ingest) -> str:
    return ", ".join(f"{key} {n}" for key, n in sorted(ingest.discarded.items())) or "none"


def _fmt(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}x ({min(values):.2f}-{max(values):.2f})"


def soak(minutes: int, connections: int, blackholed: bool) -> None:
    """Production configuration at half its sustainable rate for `minutes`, one line per
    minute: failures (any non-2xx or socket error) must stay 0 and RSS flat."""
    variant = Variant("soak", OURS, env=PRODUCTION, sentry=True, blackhole=blackholed, baseline="-")
    ingest, blackhole = Ingest(), Blackhole()
    with (
        tempfile.TemporaryDirectory(prefix="graphnode-bench-") as tmp,
        serve(variant, ingest, Path(tmp), blackhole) as server,
    ):
        workdir = Path(tmp)
        drive(server, 2, connections, workdir)  # warm-up
        sustainable = drive(server, 10, connections, workdir).rps
        rate = max(1, round(sustainable / 2))
        where = "unreachable (blackholed)" if blackholed else "a local counting endpoint"
        print(f"sustainable {sustainable:.0f} req/s; soaking at {rate} req/s for {minutes} min")
        print(f"production configuration, Sentry sending to {where}")
        print()
        print(
            "| minute | req/s | p50 ms | p99 ms | failed | RSS MB | transactions delivered "
            "| SDK discarded |"
        )
        print("|---|---|---|---|---|---|---|---|")
        time.sleep(3)  # what the saturation run queued is not counted against the soak
        ingest.reset()
        sent = 0
        for minute in range(1, minutes + 1):
            run = drive(server, 60, connections, workdir, rate)
            sent += run.requests
            expected = sent * float(PRODUCTION["SENTRY_TRACES_SAMPLE_RATE"])
            delivered = "-" if blackholed else f"{ingest.transactions / expected:.0%}"
            print(
                f"| {minute} | {run.rps:.0f} | {run.p50_ms:.2f} | {run.p99_ms:.2f} | "
                f"{run.failed} | {server.rss_mb():.1f} | {delivered} | "
                f"{'-' if blackholed else _discarded(ingest)} |",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--only", default="", help="comma-separated variant names")
    parser.add_argument("--soak", type=int, metavar="MINUTES", help="run the soak instead")
    parser.add_argument("--blackholed", action="store_true", help="soak: Sentry unreachable")
    parser.add_argument(
        "--app-root",
        type=Path,
        default=ROOT,
        help="serve the applications from this checkout (e.g. a git worktree of another commit)",
    )
    args = parser.parse_args()
    global APP_ROOT
    APP_ROOT = args.app_root.resolve()
    if args.soak:
        soak(args.soak, args.connections, args.blackholed)
        return
    chosen = [v for v in VARIANTS if not args.only or v.name in args.only.split(",")]

    ingest = Ingest()
    blackhole = Blackhole()
    rows = []
    with tempfile.TemporaryDirectory(prefix="graphnode-bench-") as tmp:
        workdir = Path(tmp)
        for variant in chosen:
            baseline = BASELINES[variant.baseline]
            with (
                serve(baseline, ingest, workdir) as base,
                serve(variant, ingest, workdir, blackhole) as test,
            ):
                drive(base, 2, args.connections, workdir)  # warm-up
                drive(test, 2, args.connections, workdir)
                rss_warm = test.rss_mb()
                time.sleep(3)  # what the warm-up queued is not counted as delivered
                ingest.reset()
                ratios, runs, sent = [], [], 0
                for _ in range(args.rounds):
                    a = drive(base, args.seconds, args.connections, workdir, variant.rate)
                    b = drive(test, args.seconds, args.connections, workdir, variant.rate)
                    ratios.append(b.rps / a.rps)
                    runs.append((a, b))
                    sent += b.requests
                time.sleep(3)  # let the SDK's background thread finish sending
                rss_end = test.rss_mb()
                delivered = "-"
                if variant.sentry and not variant.blackhole:
                    rate = float(variant.env.get("SENTRY_TRACES_SAMPLE_RATE", "0"))
                    expected = sent * rate
                    delivered = f"{ingest.transactions / expected:.0%}" if expected else "-"
                cells = [
                    variant.name,
                    variant.baseline,
                    _fmt(ratios),
                    f"{statistics.median(b.rps for _, b in runs):.0f}",
                    f"{statistics.median(b.p50_ms for _, b in runs):.2f}",
                    f"{statistics.median(b.p99_ms for _, b in runs):.2f}",
                    f"{statistics.median(b.p99_ms / a.p99_ms for a, b in runs):.2f}x",
                    f"{statistics.median(b.cpu_us - a.cpu_us for a, b in runs):+.0f}",
                    f"{statistics.median(b.cpu_us / a.cpu_us for a, b in runs):.2f}x",
                    f"{test.peak_rss_mb():.0f}",
                    f"{rss_warm:.0f} → {rss_end:.0f} MB after {sent / 1000:.0f}k "
                    f"({(rss_end - rss_warm) / rss_warm:+.1%})",
                    delivered,
                    _discarded(ingest) if variant.sentry and not variant.blackhole else "-",
                    str(sum(b.failed for _, b in runs)) if variant.succeeds else "n/a",
                ]
                rows.append("| " + " | ".join(cells) + " |")
                print(rows[-1], flush=True)

    print()
    print(
        "| variant | vs | req/s ratio, median (min-max) | req/s | p50 ms | p99 ms "
        "| p99 vs baseline | extra CPU µs/req | CPU/req vs baseline | peak RSS MB | RSS growth | "
        "transactions delivered | SDK discarded (client reports) | failed |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()

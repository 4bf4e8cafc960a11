"""Instructions per request under callgrind: the CPU side of the HTTP table, without noise.

    .venv/bin/python -m bench.instructions                 # every row (about 15 minutes)
    .venv/bin/python -m bench.instructions --only ours-off

wrk's requests/s on this shared 2-core machine move by several points between runs, more
than a change to our per-request code. valgrind's callgrind counts the instructions the
interpreter executes instead: the same count for the same code and inputs, whatever else
the machine is doing. Each application is built exactly as `bench.run` serves it (same
factories, same environment), started (lifespan, migrations, the language model loaded),
then driven in-process through its ASGI interface: the count of a run of N requests minus
that of a run of none, over N. No server, no sockets: what it leaves out (uvicorn's HTTP
parsing, system calls such as the log line's write) is the same for every application, so
the ratios are of the applications' own work. Sentry variants that would send over the
network are not measured here (background threads, timing-dependent); errors-only sends
nothing on a successful request and is deterministic.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.run import FASTAPI, FASTAPI_ROUTES, OURS, PEERS, app_environment

# A DSN nothing listens on: errors-only sends nothing for a successful request.
UNUSED_DSN = "http://public@127.0.0.1:9/1"
WARM_UP_REQUESTS = 200


@dataclass(frozen=True)
class Case:
    name: str
    factory: str
    path: str = "/items/1"
    env: dict[str, str] = field(default_factory=dict)


CASES = {
    case.name: case
    for case in (
        Case("bare-fastapi", FASTAPI),
        Case("bare-starlette", "bench.apps:bare_starlette"),
        Case("ours-off", OURS),
        Case("peers-off", PEERS),
        Case(
            "ours-errors",
            OURS,
            env={"SENTRY_DSN": UNUSED_DSN, "SENTRY_TRACES_SAMPLE_RATE": "0"},
        ),
        Case("fastapi-routes-404", FASTAPI_ROUTES, path="/nope"),
        Case("ours-404", OURS, path="/nope"),
    )
}
# (variant, baseline)
ROWS = [
    ("bare-starlette", "bare-fastapi"),
    ("ours-off", "bare-fastapi"),
    ("peers-off", "bare-fastapi"),
    ("ours-errors", "bare-fastapi"),
    ("ours-404", "fastapi-routes-404"),
]


def _child(factory: str, path: str, requests: int) -> None:
    """Runs under callgrind: build, start and drive one application, then exit."""
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - the access lines, as under bench.run
    module, _, name = factory.partition(":")
    app: Any = getattr(importlib.import_module(module), name)()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    async def main() -> None:
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        if factory == OURS:
            from app.services.analysis import language_identifier

            language_identifier()  # loaded in a thread at start-up: finish it outside the count
        await asyncio.sleep(0.5)  # let start-up threads settle
        for _ in range(WARM_UP_REQUESTS + requests):
            await app(dict(scope), receive, send)
        os._exit(0)  # no shutdown work in the count

    asyncio.run(main())


_COLLECTED = re.compile(r"Collected : (\d+)")


def _instructions(case: Case, requests: int, workdir: Path) -> int:
    database = workdir / f"{case.name}-{requests}.db"
    env = {**app_environment(database, case.env), "PYTHONHASHSEED": "0"}
    result = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-m",
            "bench.instructions",
            "--child",
            case.factory,
            case.path,
            str(requests),
        ],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    found = _COLLECTED.search(result.stderr)
    if result.returncode != 0 or found is None:
        raise RuntimeError(f"{case.name}: callgrind failed\n{result.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--only", default="", help="comma-separated variant names")
    parser.add_argument("--child", nargs=3, metavar=("FACTORY", "PATH", "REQUESTS"))
    args = parser.parse_args()
    if args.child:
        factory, path, requests = args.child
        _child(factory, path, int(requests))
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is needed: apt-get install valgrind")

    rows = [row for row in ROWS if not args.only or row[0] in args.only.split(",")]
    names = sorted({name for row in rows for name in row})
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        # Every run is independent: one per core at a time.
        runs = {
            (name, n): pool.submit(_instructions, CASES[name], n, Path(tmp))
            for name in names
            for n in (0, args.requests)
        }
        counts = {
            name: (runs[name, args.requests].result() - runs[name, 0].result()) / args.requests
            for name in names
        }

    print(f"\nInstructions per request (callgrind, {args.requests} requests, in-process)\n")
    print("| variant | vs | instructions/request | baseline | extra | ratio (baseline / variant) |")
    print("|---|---|---|---|---|---|")
    for variant, baseline in rows:
        mine, theirs = counts[variant], counts[baseline]
        print(
            f"| {variant} | {baseline} | {mine / 1000:,.0f}k | {theirs / 1000:,.0f}k "
            f"| {(mine - theirs) / 1000:+,.0f}k | {theirs / mine:.2f}x |"
        )


if __name__ == "__main__":
    main()

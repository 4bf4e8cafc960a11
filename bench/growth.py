"""Cost as one user's graph grows: `python -m bench.growth [--sizes 1000,10000,100000]`.

Seeds one user with N nodes (and EDGES_PER_NODE edges per node) with bulk inserts, on
SQLite (a temporary file) and, with TEST_DATABASE_URL set, on PostgreSQL (a database of
its own, dropped afterwards). Then times, through the services and each in its own
session: search (`GET /v1/nodes?q=`), chat retrieval, neighbours, a listing page deep in
the graph; and the extraction of one document (its time and statement count).

Text: every node has words from a fixed list of 200 common words (each in a share of
all nodes, as "the" or "data" are) and words from a vocabulary that grows with the graph
(N / 4 words), as a real graph's names and terms do. Searches and questions use the
growing vocabulary, so each finds about the same number of nodes at every size; one row
searches a common word, whose matches grow with the graph.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.db import create_engine, create_session_factory, migrate
from app.core.logging import configure_logging
from app.models import Edge, Node, NodeTag
from app.schemas.pagination import Cursor, PageRequest
from app.search.folding import index_text
from app.services.chat import chat_service
from app.services.extraction import analyse_document, graph_extraction_service
from app.services.nodes import node_service

OWNER = "growth-bench"
EDGES_PER_NODE = 3
BATCH = 5_000
REPEAT = 60
WARM_UP = 200  # a first, unreported graph: imports, models and caches warm up on it
COMMON = 200
_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
DOCUMENT = (
    "Leonhard Euler was a Swiss mathematician. Euler lived in Basel and Saint Petersburg. "
    "Euler introduced the notation for functions and founded graph theory. The Königsberg "
    "bridges problem started graph theory. Euler published many papers on number theory, "
    "mechanics, optics and astronomy."
)


def word(number: int, prefix: str = "") -> str:
    """A pronounceable word for a number: 0 -> `ba`, 71 -> `beba`, ..."""
    parts = []
    while True:
        number, digit = divmod(number, len(_SYLLABLES))
        parts.append(_SYLLABLES[digit])
        if number == 0:
            break
    return prefix + "".join(reversed(parts))


def common_word(number: int) -> str:
    return word(number, "co")


def rare_word(number: int) -> str:
    return word(number, "ra")


def _node(
    node_id: uuid.UUID, i: int, vocabulary: int, start: datetime, rng: random.Random
) -> dict[str, Any]:
    title = " ".join(rare_word(rng.randrange(vocabulary)) for _ in range(2))
    body = " ".join(
        [common_word(rng.randrange(COMMON)) for _ in range(8)]
        + [rare_word(rng.randrange(vocabulary)) for _ in range(4)]
    )
    return node_row(node_id, OWNER, title, body, start + timedelta(seconds=i))


def node_row(
    node_id: uuid.UUID, owner_id: str, title: str, body: str, created: datetime
) -> dict[str, Any]:
    """A `nodes` row for a bulk insert, indexed for search as the service would."""
    return {
        "id": node_id,
        "owner_id": owner_id,
        "title": title,
        "body": body,
        "search_title": index_text(title),
        "search_body": index_text(body),
        "version": 1,
        "created_at": created,
        "updated_at": created,
    }


async def seed(engine: AsyncEngine, size: int, rng: random.Random) -> list[uuid.UUID]:
    vocabulary = max(size // 4, 10)
    ids = [uuid.uuid4() for _ in range(size)]
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def edge(i: int, step: int) -> dict[str, Any]:
        created = start + timedelta(seconds=i)
        return {
            "id": uuid.uuid4(),
            "owner_id": OWNER,
            "source_id": ids[i],
            "target_id": ids[(i + step) % size],
            "relation": "links",
            "weight": float(rng.randrange(1, 10)),
            "created_at": created,
            "updated_at": created,
        }

    async with engine.begin() as connection:
        for first in range(0, size, BATCH):
            batch = range(first, min(first + BATCH, size))
            nodes = [_node(ids[i], i, vocabulary, start, rng) for i in batch]
            await connection.execute(insert(Node.__table__), nodes)
            tags = [{"node_id": ids[i], "tag": f"tag{i % 50}", "position": 0} for i in batch]
            await connection.execute(insert(NodeTag.__table__), tags)
        # Edges once every node exists (they point forward as well as back).
        for first in range(0, size, BATCH):
            edges = [
                edge(i, step)
                for i in range(first, min(first + BATCH, size))
                for step in (1, 7, 31)[:EDGES_PER_NODE]
            ]
            await connection.execute(insert(Edge.__table__), edges)
    if engine.dialect.name == "postgresql":
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("ANALYZE"))
    return ids


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered), p99


async def timed(
    sessions: async_sessionmaker[AsyncSession],
    call: Callable[[AsyncSession, int], Awaitable[Any]],
) -> tuple[float, float]:
    samples = []
    for repetition in range(REPEAT):
        async with sessions() as session:
            began = time.perf_counter()
            await call(session, repetition)
            samples.append((time.perf_counter() - began) * 1000)
    return percentiles(samples[REPEAT // 10 :])  # the first calls warm the caches


async def measure(engine: AsyncEngine, size: int) -> dict[str, tuple[float, float]]:
    rng = random.Random(size)
    ids = await seed(engine, size, rng)
    sessions = create_session_factory(engine)
    vocabulary = max(size // 4, 10)
    queries = [rare_word(rng.randrange(vocabulary)) for _ in range(REPEAT)]
    page = PageRequest(limit=20)

    async def search(session: AsyncSession, i: int) -> Any:
        return await node_service.list_nodes(session, owner_id=OWNER, page=page, text=queries[i])

    async def search_common(session: AsyncSession, i: int) -> Any:
        return await node_service.list_nodes(
            session, owner_id=OWNER, page=page, text=common_word(i % COMMON)
        )

    async def retrieval(session: AsyncSession, i: int) -> Any:
        question = f"What do {queries[i]} and {queries[-1 - i]} have to do with each other?"
        return await chat_service.retrieve(session, owner_id=OWNER, message=question)

    async def neighbours(session: AsyncSession, i: int) -> Any:
        return await node_service.neighbours(
            session, owner_id=OWNER, node_id=ids[rng.randrange(size)], limit=20
        )

    cursors: list[PageRequest] = []
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for _ in range(REPEAT):
        position = rng.randrange(size)
        cursors.append(
            PageRequest(
                limit=20, after=Cursor.at(start + timedelta(seconds=position), ids[position])
            )
        )

    async def listing(session: AsyncSession, i: int) -> Any:
        return await node_service.list_nodes(session, owner_id=OWNER, page=cursors[i])

    results = {
        "search (a rare word)": await timed(sessions, search),
        "search (a common word)": await timed(sessions, search_common),
        "chat retrieval": await timed(sessions, retrieval),
        "neighbours": await timed(sessions, neighbours),
        "list page (keyset, anywhere)": await timed(sessions, listing),
    }
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    async with sessions() as session:
        began = time.perf_counter()
        summary = await graph_extraction_service.extract(session, owner_id=OWNER, text=DOCUMENT)
        await session.commit()
        elapsed = (time.perf_counter() - began) * 1000
    event.remove(engine.sync_engine, "before_cursor_execute", count)
    results["extract one document"] = (elapsed, elapsed)
    results[f"  statements ({summary.nodes_created} nodes, {summary.edges_created} edges)"] = (
        float(len(statements)),
        float(len(statements)),
    )
    return results


async def run_engine(name: str, url_for: Callable[[int], Any], sizes: list[int]) -> None:
    table: dict[int, dict[str, tuple[float, float]]] = {}
    for size in [WARM_UP, *sizes]:
        async with url_for(size) as url:
            engine = create_engine(url, timeout_seconds=120)
            try:
                await migrate(engine)
                began = time.perf_counter()
                table[size] = await measure(engine, size)
                print(f"{name} {size:,}: {time.perf_counter() - began:.0f} s", flush=True)
            finally:
                await engine.dispose()
    print(f"\n### {name}\n")
    header = " | ".join(f"{size:,} p50 / p99 ms" for size in sizes)
    print(f"| operation | {header} | p50 {sizes[-1]:,} ÷ {sizes[0]:,} |")
    print("|---|" + "---|" * (len(sizes) + 1))
    for operation in table[sizes[0]]:
        cells = []
        for size in sizes:
            p50, p99 = table[size][operation]
            cells.append(f"{p50:.0f}" if operation.startswith("  ") else f"{p50:.1f} / {p99:.1f}")
        ratio = table[sizes[-1]][operation][0] / max(table[sizes[0]][operation][0], 1e-9)
        print(f"| {operation} | {' | '.join(cells)} | {ratio:.2f} |")
    print(flush=True)


class _SqliteDatabase:
    def __init__(self, folder: str, size: int) -> None:
        self.url = f"sqlite+aiosqlite:///{Path(folder) / f'growth-{size}.db'}"

    async def __aenter__(self) -> str:
        return self.url

    async def __aexit__(self, *_: object) -> None:
        await asyncio.to_thread(Path(make_url(self.url).database or "").unlink, missing_ok=True)


class _PostgresDatabase:
    def __init__(self, server: str, size: int) -> None:
        self.server = server
        self.name = f"graphnode_growth_{size}_{os.getpid()}"

    async def _admin(self, statement: str) -> None:
        engine = create_engine(self.server)
        try:
            async with engine.connect() as connection:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                await connection.execute(text(statement))
        finally:
            await engine.dispose()

    async def __aenter__(self) -> str:
        await self._admin(f'CREATE DATABASE "{self.name}"')
        return make_url(self.server).set(database=self.name).render_as_string(hide_password=False)

    async def __aexit__(self, *_: object) -> None:
        await self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


async def main_async(sizes: list[int], engines: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        if "sqlite" in engines:
            await run_engine("SQLite", lambda size: _SqliteDatabase(folder, size), sizes)
        server = os.environ.get("TEST_DATABASE_URL")
        if "postgresql" in engines and server:
            await run_engine("PostgreSQL", lambda size: _PostgresDatabase(server, size), sizes)
        elif "postgresql" in engines:
            print("PostgreSQL skipped: set TEST_DATABASE_URL")


def main() -> None:
    configure_logging(Settings(_env_file=None, log_level="WARNING"))  # type: ignore[call-arg]
    analyse_document(DOCUMENT)  # load the language and lexicon models before timing
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--engines", default="sqlite,postgresql")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    asyncio.run(main_async(sizes, args.engines.split(",")))


if __name__ == "__main__":
    main()

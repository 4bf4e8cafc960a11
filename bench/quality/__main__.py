"""`python -m bench.quality [--database-url URL] [--misses]`: print the quality table."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from app.core.config import Settings
from app.core.security import create_access_token
from app.main import create_app
from bench.quality import Report, measure


async def run(database_url: str) -> Report:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=database_url, log_level="WARNING", llm_provider="local"
    )
    app = create_app(settings)
    headers = {"Authorization": f"Bearer {create_access_token('quality-bench', settings)}"}
    async with LifespanManager(app):
        transport = ASGITransport(app=app)
        async with AsyncClient(transport=transport, base_url="http://bench") as client:
            return await measure(client, headers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--database-url",
        help="an empty database to seed (default: a new SQLite file in a temporary folder)",
    )
    parser.add_argument("--misses", action="store_true", help="list every miss")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'quality.db'}"
        report = asyncio.run(run(url))
    print("| | hit@1 | hit@3 | false-citation rate |")
    print("|---|---|---|---|")
    for name, scores in (("search", report.search), ("chat (local)", report.chat)):
        print(
            f"| {name} | {scores.hit_at_1:.2f} | {scores.hit_at_3:.2f} "
            f"| {scores.false_citation_rate:.2f} |"
        )
    first = report.search
    print(f"\n{first.questions} questions, {first.answerable} with an answer in the graph")
    if args.misses:
        print("\n".join(["", *report.misses]))


if __name__ == "__main__":
    main()

"""The async database engine, created in the lifespan from `DATABASE_URL`."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def create_engine(database_url: str) -> AsyncEngine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        return create_async_engine(url)
    return create_async_engine(url, pool_pre_ping=True)


async def ping(engine: AsyncEngine) -> None:
    """Raise if the database cannot run a trivial query."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))

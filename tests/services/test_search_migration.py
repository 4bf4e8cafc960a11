"""Migration 0003 indexes the nodes that existed before it, and can be undone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from alembic import command
from sqlalchemy import Connection, text

from app.core.db import alembic_config, create_engine, create_session_factory
from app.repositories.search import SearchRepository
from app.search.terms import search_terms


def _to(connection: Connection, revision: str, *, down: bool = False) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(config, revision)


async def test_nodes_written_before_the_migration_are_found_after_it(database_url: str) -> None:
    engine = create_engine(database_url)
    node_id = uuid.uuid4()
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_to, "head")
            await connection.run_sync(_to, "0002", down=True)
            await connection.execute(text("DELETE FROM nodes"))
            await connection.execute(
                text(
                    "INSERT INTO nodes (id, owner_id, title, body, version, created_at, updated_at)"
                    " VALUES (:id, 'alice', 'ΣΊΣΥΦΟΣ', 'Straße', 1, :now, :now)"
                ),
                {"id": node_id.hex, "now": datetime(2026, 1, 1)}
                if engine.dialect.name == "sqlite"
                else {"id": node_id, "now": datetime(2026, 1, 1, tzinfo=UTC)},
            )
            await connection.run_sync(_to, "head")

        async with create_session_factory(engine)() as session:
            search = SearchRepository.from_session(session)
            for query in ("σίσυφος", "strasse"):
                hits = await search.search("alice", search_terms(query), limit=5)
                assert [hit.node.id for hit in hits] == [node_id], query
    finally:
        async with engine.begin() as connection:
            await connection.run_sync(_to, "head")
            await connection.execute(text("DELETE FROM nodes"))
        await engine.dispose()

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.db import create_engine, create_session_factory, migrate
from app.errors.exceptions import Conflict, NotFound, PreconditionFailed
from app.schemas.graph import EdgeCreate, NodeCreate, NodeUpdate
from app.schemas.pagination import PageRequest
from app.services.edges import edge_service
from app.services.nodes import node_service
from app.services.resources import etag


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    await migrate(engine)
    if database_url.startswith("postgresql"):
        async with engine.begin() as connection:
            await connection.execute(text("TRUNCATE nodes, node_tags, edges CASCADE"))
    yield create_session_factory(engine)
    await engine.dispose()


async def test_services_never_commit(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        await node_service.create(session, owner_id="alice", data=NodeCreate(title="draft"))
        await session.rollback()

    async with sessions() as session:
        nodes, _ = await node_service.list_nodes(
            session, owner_id="alice", page=PageRequest(limit=10)
        )
    assert nodes == []


async def test_concurrent_update_is_a_precondition_failure(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        node = await node_service.create(session, owner_id="alice", data=NodeCreate(title="v1"))
        await session.commit()

    async with sessions() as first, sessions() as second:
        # Both read version 1; the first writer wins, the second must not overwrite it.
        a = await node_service.get(first, owner_id="alice", node_id=node.id)
        b = await node_service.get(second, owner_id="alice", node_id=node.id)
        assert etag(a) == etag(b)
        await node_service.update(
            first, owner_id="alice", node_id=node.id, changes=NodeUpdate(title="first")
        )
        await first.commit()
        with pytest.raises(PreconditionFailed):
            await node_service.update(
                second, owner_id="alice", node_id=node.id, changes=NodeUpdate(title="second")
            )
        await second.rollback()

    async with sessions() as session:
        stored = await node_service.get(session, owner_id="alice", node_id=node.id)
    assert stored.title == "first"


async def test_owner_scoping_and_duplicates_in_the_service(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        a = await node_service.create(session, owner_id="alice", data=NodeCreate(title="a"))
        b = await node_service.create(session, owner_id="alice", data=NodeCreate(title="b"))
        link = EdgeCreate(source_id=a.id, target_id=b.id, relation="r")
        await edge_service.create(session, owner_id="alice", data=link)

        with pytest.raises(Conflict):
            await edge_service.create(session, owner_id="alice", data=link)
        with pytest.raises(NotFound):
            await node_service.get(session, owner_id="bob", node_id=a.id)
        with pytest.raises(NotFound):
            await node_service.delete(session, owner_id="bob", node_id=a.id)


async def test_deleting_a_node_deleted_meanwhile_is_a_404_not_a_500(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        node = await node_service.create(session, owner_id="alice", data=NodeCreate(title="v1"))
        await session.commit()

    async with sessions() as first, sessions() as second:
        await node_service.get(first, owner_id="alice", node_id=node.id)
        await node_service.get(second, owner_id="alice", node_id=node.id)
        await node_service.delete(first, owner_id="alice", node_id=node.id)
        await first.commit()
        with pytest.raises(NotFound):
            await node_service.delete(second, owner_id="alice", node_id=node.id)
        await second.rollback()


async def test_migrations_match_the_models(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from app.models import Base, kept_out_of_models

    engine = create_engine(database_url)
    await migrate(engine)
    async with engine.connect() as connection:
        differences = await connection.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(
                    sync,
                    opts={"include_name": lambda name, *_: not kept_out_of_models(name)},
                ),
                Base.metadata,
            )
        )
    await engine.dispose()

    assert differences == []

"""Alembic environment: uses the connection it is given, else DATABASE_URL."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from app.core.config import load_settings
from app.core.db import create_engine
from app.models import Base, kept_out_of_models

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=lambda name, _type, _parents: not kept_out_of_models(name),
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_settings() -> None:
    engine = create_engine(load_settings().database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=load_settings().database_url,
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    given = context.config.attributes.get("connection")
    if given is not None:
        _run(given)
    else:
        asyncio.run(_run_with_settings())

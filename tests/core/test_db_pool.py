"""The PostgreSQL pool without pre-ping: a connection the server closed is never handed out."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from app.core.db import create_engine


async def test_a_connection_the_server_terminated_is_replaced_at_checkout(
    postgres_url: str,
) -> None:
    engine = create_engine(postgres_url)
    admin = create_engine(postgres_url)
    try:
        async with engine.connect() as connection:
            pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with admin.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            for _ in range(100):  # until the backend has exited
                alive = (
                    await connection.execute(
                        text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                        {"pid": pid},
                    )
                ).scalar_one()
                if not alive:
                    break
                await asyncio.sleep(0.05)
        # The pooled connection learns of the closed socket when the loop next reads it.
        await asyncio.sleep(0.5)
        async with engine.connect() as connection:
            # Served by a new connection, without an error and without a ping.
            new_pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert new_pid != pid
    finally:
        await engine.dispose()
        await admin.dispose()

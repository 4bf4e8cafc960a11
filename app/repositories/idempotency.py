"""All SQL of idempotency keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from app.models import IdempotencyKey
from app.repositories.base import Repository


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


class IdempotencyKeyRepository(Repository):
    async def insert_if_absent(self, row: IdempotencyKey) -> bool:
        """Insert `row` unless the (owner, key) exists; True if inserted.

        ON CONFLICT DO NOTHING rather than catching the unique violation: the transaction
        stays usable, and on PostgreSQL a concurrent insert of the same key waits for the
        other transaction and then does nothing.
        """
        values = {
            "owner_id": row.owner_id,
            "key": row.key,
            "fingerprint": row.fingerprint,
            "token": row.token,
            "status_code": None,
            "created_at": row.created_at,
            "expires_at": row.expires_at,
        }
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(IdempotencyKey).values(values).on_conflict_do_nothing()
        return _rowcount(await self.session.execute(statement)) == 1

    async def get(self, owner_id: str, key: str) -> IdempotencyKey | None:
        result = await self.session.execute(
            select(IdempotencyKey)
            .where(IdempotencyKey.owner_id == owner_id, IdempotencyKey.key == key)
            .execution_options(populate_existing=True)
        )
        return result.scalar_one_or_none()

    async def take_over(
        self, row: IdempotencyKey, *, now: datetime, abandoned_before: datetime
    ) -> bool:
        """Give the key to `row`'s request if it expired or its holder abandoned it."""
        statement = (
            update(IdempotencyKey)
            .where(
                IdempotencyKey.owner_id == row.owner_id,
                IdempotencyKey.key == row.key,
                or_(
                    IdempotencyKey.expires_at <= now,
                    and_(
                        IdempotencyKey.status_code.is_(None),
                        IdempotencyKey.created_at < abandoned_before,
                    ),
                ),
            )
            .values(
                fingerprint=row.fingerprint,
                token=row.token,
                status_code=None,
                response_body=None,
                response_headers=None,
                created_at=row.created_at,
                expires_at=row.expires_at,
            )
            .execution_options(synchronize_session=False)
        )
        return _rowcount(await self.session.execute(statement)) == 1

    async def record_response(
        self,
        owner_id: str,
        key: str,
        token: uuid.UUID,
        *,
        status_code: int,
        body: Any,
        headers: dict[str, str],
    ) -> bool:
        """Store the response of the request holding `token`; False if it lost the key."""
        statement = (
            update(IdempotencyKey)
            .where(
                IdempotencyKey.owner_id == owner_id,
                IdempotencyKey.key == key,
                IdempotencyKey.token == token,
            )
            .values(status_code=status_code, response_body=body, response_headers=headers)
            .execution_options(synchronize_session=False)
        )
        return _rowcount(await self.session.execute(statement)) == 1

    async def release(self, owner_id: str, key: str, token: uuid.UUID) -> None:
        await self.session.execute(
            delete(IdempotencyKey)
            .where(
                IdempotencyKey.owner_id == owner_id,
                IdempotencyKey.key == key,
                IdempotencyKey.token == token,
            )
            .execution_options(synchronize_session=False)
        )

    async def delete_expired(self, now: datetime) -> int:
        result = await self.session.execute(
            delete(IdempotencyKey)
            .where(IdempotencyKey.expires_at <= now)
            .execution_options(synchronize_session=False)
        )
        return _rowcount(result)

"""Idempotent retries of creating POSTs (draft-ietf-httpapi-idempotency-key-header).

The first request with a user's key reserves it in a transaction of its own, so that a
concurrent retry sees the reservation (409) instead of doing the work twice. The response
is recorded in the *same* transaction as the work: the work and its replayable response
commit together or not at all. A request that fails releases the key, so its retry runs
again; a reservation whose request vanished (a crash) is taken over after a while.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.audit import audited
from app.core.db import unit_of_work
from app.errors.exceptions import Conflict, IdempotencyKeyInUse, IdempotencyKeyReused
from app.models import IdempotencyKey, utcnow
from app.repositories.idempotency import IdempotencyKeyRepository

KEY_LIFETIME = timedelta(hours=24)
# A reservation without a response after this long belongs to a request that died.
ABANDONED_AFTER = timedelta(seconds=60)
IN_USE_RETRY_AFTER_SECONDS = 1
_RESERVE_ATTEMPTS = 3
PURGE_INTERVAL_SECONDS = 3600.0

log = structlog.get_logger("graphnode.idempotency")


@dataclass(frozen=True, slots=True)
class Reservation:
    """The key is ours: do the work, then record its response with `token`."""

    token: uuid.UUID


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The key was used by an earlier request with the same body: answer with its response."""

    status_code: int
    body: Any
    headers: dict[str, str]


@audited
class IdempotencyService:
    async def reserve(
        self, session: AsyncSession, *, owner_id: str, key: str, fingerprint: str
    ) -> Reservation | StoredResponse:
        """Reserve `key` for this request, or return the response of the request that used it.

        IdempotencyKeyReused (422) if it was used for another request, IdempotencyKeyInUse
        (409) while that request is still running. The caller commits the reservation at once.
        """
        repository = IdempotencyKeyRepository.from_session(session)
        for _ in range(_RESERVE_ATTEMPTS):
            now = utcnow()
            candidate = IdempotencyKey(
                owner_id=owner_id,
                key=key,
                fingerprint=fingerprint,
                token=uuid.uuid4(),
                created_at=now,
                expires_at=now + KEY_LIFETIME,
            )
            if await repository.insert_if_absent(candidate):
                return Reservation(candidate.token)
            existing = await repository.get(owner_id, key)
            if existing is None:
                continue  # released or purged since the insert: try again
            if existing.expires_at <= now:
                if await repository.take_over(
                    candidate, now=now, abandoned_before=now - ABANDONED_AFTER
                ):
                    return Reservation(candidate.token)
                continue
            if existing.fingerprint != fingerprint:
                raise IdempotencyKeyReused(
                    "This Idempotency-Key was used for a different request. "
                    "Use a new key for a new request.",
                    errors=[
                        {"detail": "Used for a different request.", "header": "Idempotency-Key"}
                    ],
                )
            if existing.status_code is None:
                if existing.created_at < now - ABANDONED_AFTER and await repository.take_over(
                    candidate, now=now, abandoned_before=now - ABANDONED_AFTER
                ):
                    return Reservation(candidate.token)
                raise IdempotencyKeyInUse(
                    "A request with this Idempotency-Key is still being processed. "
                    "Retry shortly to get its response.",
                    retry_after=IN_USE_RETRY_AFTER_SECONDS,
                )
            return StoredResponse(
                status_code=existing.status_code,
                body=existing.response_body,
                headers=dict(existing.response_headers or {}),
            )
        raise IdempotencyKeyInUse(
            "The Idempotency-Key changed hands concurrently; retry.",
            retry_after=IN_USE_RETRY_AFTER_SECONDS,
        )

    async def record(
        self,
        session: AsyncSession,
        *,
        owner_id: str,
        key: str,
        reservation: Reservation,
        status_code: int,
        body: Any,
        headers: dict[str, str],
    ) -> None:
        """Store the response in the unit of work that did the work.

        If the reservation was taken over (this request ran past ABANDONED_AFTER), the work
        is refused: another request now owns the key and may be doing the same work.
        """
        stored = await IdempotencyKeyRepository.from_session(session).record_response(
            owner_id, key, reservation.token, status_code=status_code, body=body, headers=headers
        )
        if not stored:
            raise Conflict("Another request took over this Idempotency-Key; retry.")

    async def release(
        self, session: AsyncSession, *, owner_id: str, key: str, reservation: Reservation
    ) -> None:
        """Forget a reservation whose request failed, so that a retry does the work."""
        await IdempotencyKeyRepository.from_session(session).release(
            owner_id, key, reservation.token
        )


idempotency_service = IdempotencyService()


async def purge_expired_keys(sessions: async_sessionmaker[AsyncSession]) -> None:
    """One round of deleting the keys past their 24 hours, in its own transaction.

    Housekeeping, not a request's work (so not audited): it logs `idempotency.purged` with
    the count. Every API process runs it (at start-up, then every PURGE_INTERVAL_SECONDS):
    deleting what another process deleted already is harmless. A failure is logged and
    the next round tries again.
    """
    try:
        async with unit_of_work(sessions) as session:
            purged = await IdempotencyKeyRepository.from_session(session).delete_expired(utcnow())
        log.info("idempotency.purged", keys=purged)
    except Exception as error:
        log.warning("idempotency.purge_failed", error_type=type(error).__name__)


async def purge_expired_keys_forever(
    sessions: async_sessionmaker[AsyncSession], *, interval_seconds: float
) -> None:
    """`purge_expired_keys` every `interval_seconds`, until cancelled."""
    while True:
        await asyncio.sleep(interval_seconds)
        await purge_expired_keys(sessions)

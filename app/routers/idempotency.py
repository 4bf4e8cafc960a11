"""`Idempotency-Key` on creating POSTs: the dependency and the replay of a stored response.

A route takes `IdempotencyDep` (before `SessionDep`, so that the key is released after
the unit of work has failed, not before), answers `idempotency.replay` when there is
one, and otherwise calls `idempotency.record(...)` with its response before returning.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import structlog
from fastapi import Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.db import unit_of_work
from app.errors.exceptions import InvalidIdempotencyKey
from app.routers.deps import CurrentUser, SessionFactoryDep
from app.services.idempotency import Reservation, StoredResponse, idempotency_service

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# The headers of a first response that a replay repeats.
REPLAYED_HEADERS = ("Location", "ETag")
# An sf-string (RFC 8941) as the draft specifies, or the same characters unquoted, as many
# clients send them; without escapes, so the key is the characters between the quotes.
KEY_PATTERN = r'^(?:"[ !#-\[\]-~]{1,255}"|[!#-\[\]-~]{1,255})$'
_KEY = re.compile(KEY_PATTERN)

log = structlog.get_logger("graphnode.idempotency")


@dataclass(slots=True)
class Idempotency:
    """What a route needs: a stored response to replay, or how to record its own."""

    owner_id: str
    key: str | None = None
    reservation: Reservation | None = None
    stored: StoredResponse | None = None

    @property
    def replay(self) -> Response | None:
        if self.stored is None:
            return None
        headers = {**self.stored.headers, REPLAYED_HEADER: "true"}
        return JSONResponse(self.stored.body, status_code=self.stored.status_code, headers=headers)

    async def record(
        self, session: AsyncSession, *, status_code: int, body: BaseModel, response: Response
    ) -> None:
        if self.key is None or self.reservation is None:
            return
        headers = {
            name: response.headers[name] for name in REPLAYED_HEADERS if name in response.headers
        }
        await idempotency_service.record(
            session,
            owner_id=self.owner_id,
            key=self.key,
            reservation=self.reservation,
            status_code=status_code,
            body=body.model_dump(mode="json"),
            headers=headers,
        )


def parse_key(value: str) -> str:
    if not _KEY.fullmatch(value):
        raise InvalidIdempotencyKey(
            "The Idempotency-Key header must be 1-255 printable ASCII characters without "
            '`"` or `\\`, optionally in double quotes.',
            errors=[{"detail": "Invalid Idempotency-Key.", "header": HEADER}],
        )
    return value[1:-1] if value.startswith('"') else value


async def _fingerprint(request: Request) -> str:
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.url.path}\n".encode())
    digest.update(await request.body())
    return digest.hexdigest()


async def _idempotency(
    request: Request,
    sessions: SessionFactoryDep,
    user_id: CurrentUser,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=HEADER,
            description=(
                "Makes a retry safe: a retry with the same key and body within 24 hours "
                "gets the first response (same status, body and `Location`) without the "
                "work being done again. The same key with another body is a 422 problem; "
                "while the first request is still running, a 409 problem."
            ),
            examples=['"8e03978e-40d5-43e8-bc93-6894a57f9324"'],
            json_schema_extra={"pattern": KEY_PATTERN},
        ),
    ] = None,
) -> AsyncIterator[Idempotency]:
    if idempotency_key is None:
        yield Idempotency(owner_id=user_id)
        return
    key = parse_key(idempotency_key)
    fingerprint = await _fingerprint(request)
    # Committed at once, on its own: a concurrent retry must see the reservation.
    async with unit_of_work(sessions) as session:
        outcome = await idempotency_service.reserve(
            session, owner_id=user_id, key=key, fingerprint=fingerprint
        )
    if isinstance(outcome, StoredResponse):
        yield Idempotency(owner_id=user_id, key=key, stored=outcome)
        return
    try:
        yield Idempotency(owner_id=user_id, key=key, reservation=outcome)
    except BaseException:
        await _release(sessions, user_id, key, outcome)
        raise


async def _release(
    sessions: async_sessionmaker[AsyncSession], owner_id: str, key: str, reservation: Reservation
) -> None:
    try:
        async with unit_of_work(sessions) as session:
            await idempotency_service.release(
                session, owner_id=owner_id, key=key, reservation=reservation
            )
    except Exception as error:
        # The reservation then lapses after ABANDONED_AFTER; the request's own error is
        # the one to report.
        log.warning("idempotency.release_failed", error_type=type(error).__name__)


IdempotencyDep = Annotated[Idempotency, Depends(_idempotency, scope="function")]

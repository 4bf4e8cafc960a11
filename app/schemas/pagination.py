"""Keyset pagination: a page request and its cursor.

Cursors are opaque to clients: `<key>-<uuid hex>`, the position after the last row.

In a listing the key is the last row's `created_at` in microseconds since the epoch; in a
search it is the last hit's score as an integer (the engine's score times SCORE_SCALE,
computed in SQL, so the next page compares exactly what the engine computed). Every string
matching CURSOR_PATTERN is a position in either, so the OpenAPI pattern describes exactly
what is accepted; a cursor given to another listing than its own is a position there too.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

CURSOR_PATTERN = r"^[0-9]{1,17}-[0-9a-f]{32}$"
SCORE_SCALE = 1_000_000_000
_CURSOR = re.compile(CURSOR_PATTERN)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Cursor:
    key: int
    id: uuid.UUID

    @classmethod
    def at(cls, created_at: datetime, row_id: uuid.UUID) -> Cursor:
        return cls((created_at - _EPOCH) // timedelta(microseconds=1), row_id)

    @property
    def created_at(self) -> datetime:
        return _EPOCH + timedelta(microseconds=self.key)

    def encode(self) -> str:
        return f"{self.key}-{self.id.hex}"

    @classmethod
    def decode(cls, value: str) -> Cursor:
        """Raise ValueError for a string that is not a cursor."""
        if not _CURSOR.fullmatch(value):
            raise ValueError("not a cursor")
        key, row_id = value.split("-")
        return cls(int(key), uuid.UUID(hex=row_id))


class ListedRow(Protocol):
    @property
    def created_at(self) -> datetime: ...

    @property
    def id(self) -> uuid.UUID: ...


def next_cursor(rows: Sequence[ListedRow], limit: int) -> str | None:
    """The cursor after a full page of a newest-first listing; None after its last page."""
    if len(rows) < limit:
        return None
    return Cursor.at(rows[-1].created_at, rows[-1].id).encode()


@dataclass(frozen=True, slots=True)
class PageRequest:
    """A page of a listing: at most `limit` rows after the position `after`."""

    limit: int
    after: Cursor | None = None

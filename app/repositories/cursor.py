"""Keyset cursors, opaque to clients.

A listing's cursor is the (created_at, id) of the last row of a page, as `<µs>-<uuid
hex>`. A search's cursor is the (score, id) of the last hit, as `r<IEEE 754 bits of the
score, hex>-<uuid hex>`: the exact score the engine computed, so the next page starts
right after it. Every string matching CURSOR_PATTERN with a finite score is a position.
"""

from __future__ import annotations

import math
import re
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

CURSOR_PATTERN = r"^(?:[0-9]{1,17}|r[0-9a-f]{16})-[0-9a-f]{32}$"
_CURSOR = re.compile(CURSOR_PATTERN)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Cursor:
    created_at: datetime
    id: uuid.UUID

    def encode(self) -> str:
        micros = (self.created_at - _EPOCH) // timedelta(microseconds=1)
        return f"{micros}-{self.id.hex}"


@dataclass(frozen=True, slots=True)
class SearchCursor:
    score: float
    id: uuid.UUID

    def encode(self) -> str:
        return f"r{struct.pack('>d', self.score).hex()}-{self.id.hex}"


def decode_cursor(value: str) -> Cursor | SearchCursor:
    """Raise ValueError for a string that is not a cursor."""
    if not _CURSOR.fullmatch(value):
        raise ValueError("not a cursor")
    position, row_id = value.split("-")
    if position.startswith("r"):
        (score,) = struct.unpack(">d", bytes.fromhex(position[1:]))
        if not math.isfinite(score):
            raise ValueError("not a cursor")
        return SearchCursor(score, uuid.UUID(hex=row_id))
    return Cursor(_EPOCH + timedelta(microseconds=int(position)), uuid.UUID(hex=row_id))

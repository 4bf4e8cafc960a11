"""Keyset cursors: the (created_at, id) of the last row of a page, as `<µs>-<uuid hex>`.

Clients treat a cursor as opaque. Every string matching CURSOR_PATTERN is a valid position
(a page after any instant and id), so the OpenAPI pattern describes exactly what is
accepted.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

CURSOR_PATTERN = r"^[0-9]{1,17}-[0-9a-f]{32}$"
_CURSOR = re.compile(CURSOR_PATTERN)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Cursor:
    created_at: datetime
    id: uuid.UUID

    def encode(self) -> str:
        micros = (self.created_at - _EPOCH) // timedelta(microseconds=1)
        return f"{micros}-{self.id.hex}"

    @classmethod
    def decode(cls, value: str) -> Cursor:
        """Raise ValueError for a string that is not a cursor."""
        if not _CURSOR.fullmatch(value):
            raise ValueError("not a cursor")
        micros, row_id = value.split("-")
        return cls(_EPOCH + timedelta(microseconds=int(micros)), uuid.UUID(hex=row_id))

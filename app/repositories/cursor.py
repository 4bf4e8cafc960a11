"""Opaque keyset cursors: the (created_at, id) of the last row of a page."""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import datetime

import orjson


@dataclass(frozen=True, slots=True)
class Cursor:
    created_at: datetime
    id: uuid.UUID

    def encode(self) -> str:
        raw = orjson.dumps([self.created_at.isoformat(), self.id.hex])
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    @classmethod
    def decode(cls, value: str) -> Cursor:
        """Raise ValueError for anything this API did not hand out."""
        try:
            padded = value + "=" * (-len(value) % 4)
            created_at, row_id = orjson.loads(base64.urlsafe_b64decode(padded))
            cursor = cls(datetime.fromisoformat(created_at), uuid.UUID(hex=row_id))
        except (binascii.Error, orjson.JSONDecodeError, TypeError, ValueError):
            raise ValueError("not a cursor from this API") from None
        if cursor.created_at.tzinfo is None:
            raise ValueError("not a cursor from this API")
        return cursor

"""The limit on a text the AI operations take: its type, its check, and the early refusal
of a body too large to hold an acceptable text."""

from __future__ import annotations

from typing import Annotated

from fastapi import Request
from pydantic import StringConstraints

from app.core.config import Settings
from app.errors.exceptions import PayloadTooLarge
from app.routers.deps import SettingsDep
from app.schemas.graph import NON_BLANK_MULTI_LINE

# Bytes per character in the worst case (UTF-8) plus JSON overhead: a body larger than this
# cannot hold an acceptable text, so it is refused before it is read and parsed.
_MAX_BYTES_PER_CHAR = 4
_JSON_OVERHEAD_BYTES = 1024

# Not blank, and no control characters but tab and line breaks (PostgreSQL refuses NUL).
NonBlank = Annotated[str, StringConstraints(min_length=1, pattern=NON_BLANK_MULTI_LINE)]


def check_text_size(text: str, settings: Settings) -> None:
    if len(text) > settings.ai_max_text_chars:
        raise PayloadTooLarge(
            f"The text has {len(text)} characters; the limit is {settings.ai_max_text_chars}.",
            max_text_chars=settings.ai_max_text_chars,
        )


def refuse_oversized_bodies(request: Request, settings: SettingsDep) -> None:
    declared = request.headers.get("content-length", "")
    limit = settings.ai_max_text_chars * _MAX_BYTES_PER_CHAR + _JSON_OVERHEAD_BYTES
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"The request body exceeds {limit} bytes.",
            max_text_chars=settings.ai_max_text_chars,
        )

"""Stop words by language, folded like indexed text.

YAKE's lists (already a dependency, used for keywords) where YAKE has the language; the
stopwords-iso collection otherwise (Korean among them), and also for Chinese and Japanese,
whose YAKE lists are short (119 and 44 words). Multi-word entries are left out: a question
is filtered word by word.
"""

from __future__ import annotations

import functools
from importlib.resources import files

import stopwordsiso

from app.search.folding import fold

_YAKE_LISTS = files("yake.core").joinpath("StopwordsList")
_BOTH_LISTS = frozenset({"ja", "zh"})


@functools.cache
def stopwords(language: str) -> frozenset[str]:
    """The folded stop words of an ISO 639-1 language; empty for a language without a list."""
    resource = _YAKE_LISTS.joinpath(f"stopwords_{language}.txt")
    raw: list[str] = []
    if resource.is_file():
        raw += resource.read_bytes().decode("utf-8-sig", errors="replace").split("\n")
    if not raw or language in _BOTH_LISTS:
        raw += stopwordsiso.stopwords(language)
    folded = (fold(word.strip()) for word in raw)
    return frozenset(word for word in folded if word and " " not in word)

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

# YAKE ships these lists in legacy code pages and reads them as ISO-8859-1: it prints a
# warning to stdout (a line that is not JSON) and garbles their accented words.
_YAKE_ENCODINGS = {"lt": "cp1257", "sk": "cp1250"}
_BOTH_LISTS = frozenset({"ja", "zh"})


def _yake_list(code: str) -> list[str] | None:
    # Found on first use: `files` imports YAKE (and networkx), which the API only needs
    # for analysis and search.
    resource = files("yake.core").joinpath("StopwordsList", f"stopwords_{code}.txt")
    if not resource.is_file():
        return None
    return resource.read_text(encoding=_YAKE_ENCODINGS.get(code, "utf-8-sig")).split("\n")


@functools.cache
def yake_stopwords(language: str) -> frozenset[str]:
    """YAKE's own stop-word list for `language` as YAKE uses it (lower-cased; its
    language-neutral list when it has none), read in the list's own encoding: pass it to
    `yake.KeywordExtractor(stopwords=...)`, which then reads no file itself."""
    code = language[:2].lower()
    words = _yake_list(code) or _yake_list("noLang") or []
    return frozenset(word.lower() for word in words)


@functools.cache
def stopwords(language: str) -> frozenset[str]:
    """The folded stop words of an ISO 639-1 language; empty for a language without a list."""
    raw = _yake_list(language) or []
    if not raw or language in _BOTH_LISTS:
        raw += stopwordsiso.stopwords(language)
    folded = (fold(word.strip()) for word in raw)
    return frozenset(word for word in folded if word and " " not in word)

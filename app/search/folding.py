"""One normal form for indexed text and queries, so SQLite and PostgreSQL agree.

Folding happens here, in Python, not in either engine: NFKC (full-width forms, ligatures),
Unicode case folding (`ß` -> `ss`, final sigma `ς` -> `σ`, every script), then Latin and
Greek accents removed. The result is a list of tokens of letters and digits only, which
SQLite FTS5's `unicode61` tokenizer and PostgreSQL's `simple` text search configuration
split identically.

Chinese, Japanese and Korean text is indexed as overlapping character bigrams (the
approach of Lucene's CJK analyzer): a run `東京都` becomes `東京 京都 都`. A word of any
length is then found as the phrase of its bigrams, in text that has no spaces; the run's
last character is kept on its own so a one-character query matches as a prefix.
"""

from __future__ import annotations

import re
import unicodedata

# Word characters without `_`: both engines treat `_` as a separator.
_TOKEN = re.compile(r"[^\W_]+")
_CJK = (
    "\u1100-\u11ff"  # Hangul Jamo
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3130-\u318f"  # Hangul Compatibility Jamo
    "\u3400-\u4dbf"  # CJK Extension A
    "\u4e00-\u9fff"  # CJK Unified Ideographs
    "\ua960-\ua97f"  # Hangul Jamo Extended-A
    "\uac00-\ud7af"  # Hangul Syllables
    "\uf900-\ufaff"  # CJK Compatibility Ideographs
    "\U00020000-\U0003134f"  # CJK Extensions B-G
)
_CJK_RUN = re.compile(f"[{_CJK}]+|[^{_CJK}]+")
_IS_CJK = re.compile(f"[{_CJK}]")
# Accents on Latin, Greek and Cyrillic letters; not the kana voicing marks (U+3099-309A),
# which NFKC composes anyway and which change a word's meaning.
_ACCENTS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def fold(text: str) -> str:
    """Case-, accent- and width-folded text (`ΣΊΣΥΦΟΣ` -> `σισυφοσ`, `Straße` -> `strasse`)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    stripped = _ACCENTS.sub("", unicodedata.normalize("NFD", folded))
    return unicodedata.normalize("NFC", stripped)


def is_cjk(token: str) -> bool:
    return _IS_CJK.match(token) is not None


def words(text: str) -> list[str]:
    """Folded tokens: runs of letters and digits, CJK and other scripts split apart."""
    found: list[str] = []
    for token in _TOKEN.findall(fold(text)):
        found.extend(_CJK_RUN.findall(token))
    return found


def bigrams(run: str) -> list[str]:
    """`東京都` -> [`東京`, `京都`]; a single character stays as it is."""
    if len(run) < 2:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def index_tokens(text: str) -> list[str]:
    tokens: list[str] = []
    for word in words(text):
        if is_cjk(word):
            tokens.extend(bigrams(word))
            if len(word) > 1:
                tokens.append(word[-1])
        else:
            tokens.append(word)
    return tokens


def index_text(text: str) -> str:
    """What the engines index for `text`: its tokens, separated by single spaces."""
    return " ".join(index_tokens(text))

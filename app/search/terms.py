"""Query terms: what a search or a question asks the index for.

A term is a phrase of index tokens (one token for a word of a space-separated language,
the bigrams of a CJK word), optionally matched as a prefix. Both engines and the Python
check in `Term.occurs_in` give a term the same meaning.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from app.search.folding import bigrams, is_cjk, words

# Korean particles and copula endings, longest first: `센트리가` and `센트리는` both search
# for `센트리`. Only stripped when two syllables or more remain, so `사과` stays itself.
KOREAN_PARTICLES = tuple(
    sorted(
        [
            "에서는",
            "에게서",
            "으로서",
            "으로써",
            "이라는",
            "에서도",
            "에게는",
            "으로는",
            "이에요",
            "입니다",
            "인가요",
            "입니까",
            "인가",
            "이다",
            "예요",
            "에요",
            "에서",
            "에게",
            "한테",
            "으로",
            "까지",
            "부터",
            "처럼",
            "보다",
            "이나",
            "이랑",
            "라는",
            "이란",
            "하고",
            "인데",
            "은",
            "는",
            "이",
            "가",
            "을",
            "를",
            "의",
            "에",
            "로",
            "와",
            "과",
            "도",
            "만",
            "나",
            "랑",
            "란",
            "요",
        ],
        key=len,
        reverse=True,
    )
)
# Endings of Korean verbs and adjectives (`제공합니다`, `만들었나요`, `추적하는`): such a
# word is a predicate, not a concept to search for.
KOREAN_PREDICATE_ENDINGS = (
    "다",
    "요",
    "까",
    "죠",
    "냐",
    "하는",
    "되는",
    "있는",
    "없는",
    "하고",
    "하며",
    "하여",
    "해서",
    "되어",
    "하게",
    "했고",
    "지만",
)
_HANGUL = re.compile("[\uac00-\ud7af]")
_KANA = re.compile("[\u3040-\u30ff]")
_HIRAGANA_RUN = re.compile("[\u3040-\u309f]+")
# Latin words this short say nothing a question could be matched on.
_MIN_WORD = 2


@dataclass(frozen=True, slots=True)
class Term:
    tokens: tuple[str, ...]
    prefix: bool = False

    def occurs_in(self, tokens: Sequence[str]) -> bool:
        """Whether the phrase appears in `tokens` (an indexed text's tokens)."""
        size = len(self.tokens)
        head, last = self.tokens[:-1], self.tokens[-1]
        for start in range(len(tokens) - size + 1):
            if tuple(tokens[start : start + size - 1]) != head:
                continue
            candidate = tokens[start + size - 1]
            if candidate == last or (self.prefix and candidate.startswith(last)):
                return True
        return False


def phrase_tokens(text: str) -> tuple[str, ...]:
    """`text` as one phrase of index tokens (a CJK word as its bigrams, no extra unigram)."""
    tokens: list[str] = []
    for word in words(text):
        tokens.extend(bigrams(word) if is_cjk(word) else [word])
    return tuple(tokens)


def is_korean_predicate(word: str) -> bool:
    # Two syllables can be a noun (`바다`, sea): only longer words are judged by ending.
    return len(word) >= 3 and word.endswith(KOREAN_PREDICATE_ENDINGS)


def strip_particle(word: str) -> str:
    if not _HANGUL.match(word):
        return word
    for particle in KOREAN_PARTICLES:
        if word.endswith(particle) and len(word) - len(particle) >= 2:
            return word[: -len(particle)]
    return word


def _cjk_term(word: str) -> Term:
    return Term(tuple(bigrams(word)), prefix=len(word) == 1)


def search_terms(query: str) -> list[Term]:
    """Every word of a search box query, in order, without duplicates.

    Words of space-separated languages match as prefixes (`graph` finds `graphs`); CJK
    words match as substrings of the indexed text.
    """
    terms: list[Term] = []
    for word in words(query):
        term = _cjk_term(strip_particle(word)) if is_cjk(word) else Term((word,), prefix=True)
        if term not in terms:
            terms.append(term)
    return terms


def _split_at(run: str, stopwords: Collection[str]) -> list[str]:
    """Cut a run of CJK text at its stop words (longest first), keeping what is between."""
    longest = max((len(word) for word in stopwords), default=0)
    pieces: list[str] = []
    current = ""
    position = 0
    while position < len(run):
        for size in range(min(longest, len(run) - position), 0, -1):
            if run[position : position + size] in stopwords:
                if current:
                    pieces.append(current)
                current = ""
                position += size
                break
        else:
            current += run[position]
            position += 1
    if current:
        pieces.append(current)
    return pieces


def split_cjk_run(run: str, stopwords: Collection[str]) -> list[str]:
    """The content words of a Chinese or Japanese run of text (no spaces to split at).

    Japanese is cut at hiragana (particles and inflections are written in it; content
    words in kanji and katakana); Chinese at its stop words.
    """
    if _KANA.search(run):
        return [p for p in _HIRAGANA_RUN.split(run) if p and p not in stopwords]
    return _split_at(run, stopwords)


def question_terms(question: str, stopwords: Collection[str]) -> list[Term]:
    """The content words of a question: stop words dropped, Korean particles stripped,
    Chinese and Japanese runs cut into words (`split_cjk_run`)."""
    terms: list[Term] = []
    for word in words(question):
        pieces: list[str]
        if not is_cjk(word):
            pieces = [] if len(word) < _MIN_WORD or word in stopwords else [word]
        elif _HANGUL.match(word):
            stem = strip_particle(word)
            unwanted = word in stopwords or stem in stopwords or is_korean_predicate(word)
            pieces = [] if unwanted else [stem]
        else:
            pieces = split_cjk_run(word, stopwords)
        for piece in pieces:
            if is_cjk(piece) and len(piece) < 2:
                continue  # one character is too ambiguous to ground an answer on
            term = _cjk_term(piece) if is_cjk(piece) else Term((piece,), prefix=True)
            if term not in terms:
                terms.append(term)
    return terms

"""Concepts worth a node: noun phrases of a document, in every script.

Space-separated languages: YAKE's key phrases (one or two words), then what a person
would not keep is dropped: a phrase with a word that can only be a verb (English, by
LemmInflect's lexicon), a noun-or-verb word right after a plural noun (`databases store
rows`: English agreement), a German phrase not ending in a capitalised noun, a Korean word
with a predicate ending (`제공합니다`), Korean particles stripped (`센트리는` -> `센트리`).
Chinese and Japanese text has no spaces: its runs are cut at hiragana (Japanese) or at
stop words (Chinese), and the pieces ranked by frequency. Last, a concept that is a
fragment of another one kept (`databases` of `graph databases`) is dropped.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Sequence

from segtok.segmenter import split_multi

from app.search.folding import index_text, is_cjk, words
from app.search.stopwords import stopwords, yake_stopwords
from app.search.terms import is_korean_predicate, phrase_tokens, split_cjk_run, strip_particle

_CANDIDATES = 40
_KNOWN_WORD_MAX = 4
_WORD = re.compile(r"[^\W_]+(?:[-'\u2019][^\W_]+)*")
_NOUN_LIKE = frozenset({"NOUN", "PROPN", "ADJ", "NUM"})
_lemmas_lock = threading.Lock()


def _english_lemmas(word: str) -> dict[str, tuple[str, ...]]:
    from lemminflect import getAllLemmas  # on first use: it brings numpy into memory

    with _lemmas_lock:  # LemmInflect loads its lexicon lazily, once
        found: dict[str, tuple[str, ...]] = getAllLemmas(word)
    return found


def _verb_only(word: str) -> bool:
    if word[:1].isupper():
        return False  # a name, or a sentence's first word: not judged by the lexicon
    lemmas = _english_lemmas(word.lower())
    return "VERB" in lemmas and not _NOUN_LIKE & lemmas.keys()


def _plural_noun(word: str) -> bool:
    nouns = _english_lemmas(word.lower()).get("NOUN", ())
    return bool(nouns) and word.lower() not in nouns


def _english_verbs(sentences: Sequence[list[str]]) -> set[str]:
    """Noun-or-verb words used as verbs: every occurrence follows a plural noun."""
    after_plural: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for tokens in sentences:
        for previous, word in zip(["", *tokens], tokens, strict=False):
            key = word.lower()
            seen[key] += 1
            if previous and _plural_noun(previous) and "VERB" in _english_lemmas(key):
                after_plural[key] += 1
    return {word for word, count in after_plural.items() if count == seen[word]}


def _keep_phrase(phrase: str, language: str, verbs: set[str]) -> bool:
    parts = phrase.split()
    if language == "en":
        return not any(_verb_only(part) or part.lower() in verbs for part in parts)
    if language == "de":
        return parts[-1][:1].isupper()
    return True


def _yake_candidates(text: str, language: str) -> list[str]:
    import yake  # on first use: it brings networkx and jellyfish into memory

    extractor = yake.KeywordExtractor(
        lan=language,
        n=2,
        top=_CANDIDATES,
        dedup_lim=0.9,
        stopwords=yake_stopwords(language),
    )
    return [str(term) for term, _ in extractor.extract_keywords(text)]


def _korean_candidates(text: str) -> list[str]:
    counts: Counter[str] = Counter()
    dropped = stopwords("ko")
    for word in _WORD.findall(text):
        if not is_cjk(word) or is_korean_predicate(word):
            continue
        stem = strip_particle(word)
        if len(stem) >= 2 and stem not in dropped:
            counts[stem] += 1
    return [word for word, _ in counts.most_common(_CANDIDATES)]


CJK_LANGUAGES = frozenset({"zh", "ja", "wuu", "yue"})  # langid names Chinese varieties apart


def cjk_words(text: str, language: str) -> list[tuple[str, int]]:
    """The words of Chinese or Japanese text with their counts, most frequent first."""
    dropped = stopwords("ja" if language == "ja" else "zh")
    pieces = [
        piece
        for word in words(text)
        if is_cjk(word)
        for piece in split_cjk_run(word, dropped)
        if len(piece) >= 2
    ]
    # A short piece seen on its own is a word: cut it out of the longer pieces it starts
    # or ends (`欧拉` out of `欧拉研究`), the text has no dictionary of its own.
    known = {piece for piece in pieces if len(piece) <= _KNOWN_WORD_MAX}
    counts: Counter[str] = Counter()
    for piece in pieces:
        counts.update(part for part in _cut_known(piece, known) if len(part) >= 2)
    return counts.most_common(_CANDIDATES)


def _cut_known(piece: str, known: set[str]) -> list[str]:
    for word in sorted(known, key=len, reverse=True):
        if len(word) < len(piece):
            if piece.startswith(word):
                return [word, *_cut_known(piece[len(word) :], known)]
            if piece.endswith(word):
                return [*_cut_known(piece[: -len(word)], known), word]
    return [piece]


def _without_fragments(concepts: list[str]) -> list[str]:
    """Drop a concept whose folded tokens lie inside another concept's."""
    folded = [" " + " ".join(phrase_tokens(concept)) + " " for concept in concepts]
    return [
        concept
        for concept, mine in zip(concepts, folded, strict=True)
        if mine.strip() and not any(mine != other and mine in other for other in folded)
    ]


def extract_concepts(text: str, *, language: str, limit: int) -> list[str]:
    """The document's concepts, most relevant first, without duplicates (CPU-bound)."""
    if language in CJK_LANGUAGES:
        candidates = [word for word, _ in cjk_words(text, language)]
    elif language == "ko":
        candidates = _korean_candidates(text)
    else:
        sentence_tokens = [_WORD.findall(sentence) for sentence in split_multi(text)]
        verbs = _english_verbs(sentence_tokens) if language == "en" else set()
        candidates = [
            c for c in _yake_candidates(text, language) if _keep_phrase(c, language, verbs)
        ]
    unique: dict[str, str] = {}
    for candidate in candidates:
        if key := index_text(candidate):
            unique.setdefault(key, candidate)
    return _without_fragments(list(unique.values()))[:limit]

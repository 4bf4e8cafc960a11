"""Lightweight text analysis: language, counts, reading time, keywords and key phrases.

Language identification is py3langid (langid.py's maintained fork: a small model shipped in
the package, 97 languages, no network). Keywords and key phrases are YAKE (unsupervised,
statistical, per-document, multilingual via stop-word lists; no model to download). Both
are CPU work that grows with the text, so the analysis runs in a worker thread and the
event loop keeps serving.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio.to_thread
from segtok.segmenter import split_multi

from app.core.audit import audited
from app.search.stopwords import yake_stopwords
from app.services.concepts import CJK_LANGUAGES, cjk_words

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier

WORDS_PER_MINUTE = 230
TOP_TERMS = 10
_WORD = re.compile(r"\w+(?:[-'\u2019]\w+)*", re.UNICODE)

_identifier: LanguageIdentifier | None = None
_identifier_lock = threading.Lock()


def language_identifier() -> LanguageIdentifier:
    """The language model, loaded once per process, on first use (a process that never
    identifies a language never holds it, nor numpy)."""
    global _identifier
    if _identifier is None:
        with _identifier_lock:
            if _identifier is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return _identifier


@dataclass(frozen=True, slots=True)
class Term:
    text: str
    relevance: float


@dataclass(frozen=True, slots=True)
class Analysis:
    language: str
    language_confidence: float
    characters: int
    words: int
    sentences: int
    reading_time_seconds: int
    keywords: list[Term]
    key_phrases: list[Term]


def _terms(text: str, language: str, *, max_words: int) -> list[tuple[str, float]]:
    import yake  # on first use: it brings networkx and jellyfish into memory

    extractor = yake.KeywordExtractor(
        lan=language,
        n=max_words,
        top=TOP_TERMS * 2,
        dedup_lim=0.8,
        stopwords=yake_stopwords(language),
    )
    return [(str(term), float(score)) for term, score in extractor.extract_keywords(text)]


def _ranked(candidates: list[tuple[str, float]]) -> list[Term]:
    # YAKE scores are "lower is better" and unbounded; relevance maps them into (0, 1].
    return [Term(text, round(1.0 / (1.0 + score), 4)) for text, score in candidates[:TOP_TERMS]]


def analyze_text(text: str) -> Analysis:
    """Analyse `text` (CPU-bound; call it from a worker thread)."""
    language, confidence = language_identifier().classify(text)
    words = len(_WORD.findall(text))
    sentence_count = len(sentences(text))
    if language in CJK_LANGUAGES:
        # YAKE splits words at spaces: Chinese and Japanese sentences would come back whole.
        found = cjk_words(text, str(language))[:TOP_TERMS]
        top = found[0][1] if found else 1
        keyword_terms = [Term(word, round(count / top, 4)) for word, count in found]
        phrase_terms: list[Term] = []
    else:
        keyword_terms = _ranked(_terms(text, language, max_words=1))
        phrase_terms = _ranked(
            [(term, score) for term, score in _terms(text, language, max_words=3) if " " in term]
        )
    return Analysis(
        language=str(language),
        language_confidence=round(float(confidence), 4),
        characters=len(text),
        words=words,
        sentences=sentence_count,
        reading_time_seconds=math.ceil(words * 60 / WORDS_PER_MINUTE),
        keywords=keyword_terms,
        key_phrases=phrase_terms,
    )


@audited
class TextAnalysisService:
    async def analyze(self, text: str) -> Analysis:
        return await anyio.to_thread.run_sync(analyze_text, text)


text_analysis_service = TextAnalysisService()


# segtok knows Western punctuation only: CJK full stops, question and exclamation marks end
# sentences too.
_CJK_SENTENCE_END = re.compile(r"(?<=[。！？])")


def sentences(text: str) -> list[str]:
    found: list[str] = []
    for part in _CJK_SENTENCE_END.split(text):
        found.extend(sentence.strip() for sentence in split_multi(part) if sentence.strip())
    return found

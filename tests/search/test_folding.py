"""The normal form both engines index, and the query terms built from it."""

from __future__ import annotations

import pytest

from app.search.folding import fold, index_text
from app.search.terms import Term, question_terms, search_terms, strip_particle


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("ΣΊΣΥΦΟΣ", "σισυφοσ"),  # accents and the final sigma
        ("σίσυφος", "σισυφοσ"),
        ("Straße", "strasse"),
        ("ＦＵＬＬ－ＷＩＤＴＨ", "full-width"),
        ("Café Müller", "cafe muller"),
        ("ガギグ", "ガギグ"),  # kana voicing marks are not accents
        ("Ǆ ﬁ ²", "dz fi 2"),  # compatibility forms
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_cjk_runs_are_indexed_as_bigrams_and_other_words_whole() -> None:
    assert index_text("東京都 is big") == "東京 京都 都 is big"
    assert index_text("센트리는 좋다") == "센트 트리 리는 는 좋다 다"
    assert index_text("snake_case, a-b") == "snake case a b"


@pytest.mark.parametrize(
    ("word", "stem"),
    [
        ("센트리가", "센트리"),
        ("센트리는", "센트리"),
        ("서울에서", "서울"),
        ("사과", "사과"),
        ("Euler", "Euler"),
    ],
)
def test_korean_particles_are_stripped_when_a_stem_remains(word: str, stem: str) -> None:
    assert strip_particle(word) == stem


def test_search_terms_are_prefixes_or_bigram_phrases() -> None:
    assert search_terms("Graph 東京 京 graph") == [
        Term(("graph",), prefix=True),
        Term(("東京",)),
        Term(("京",), prefix=True),
    ]


def test_a_phrase_term_occurs_only_as_consecutive_tokens() -> None:
    tokens = ["a", "東京", "京都", "都", "b"]
    assert Term(("東京", "京都")).occurs_in(tokens)
    assert not Term(("京都", "東京")).occurs_in(tokens)
    assert Term(("gr",), prefix=True).occurs_in(["graph"])
    assert not Term(("gr",)).occurs_in(["graph"])


def test_question_terms_drop_stop_words_and_cut_cjk_runs() -> None:
    stop = {"what", "is", "the", "of", "は", "の", "是", "哪", "的", "뭐예요"}
    assert question_terms("What is the capital of France?", stop) == [
        Term(("capital",), prefix=True),
        Term(("france",), prefix=True),
    ]
    assert question_terms("東京の人口は？", stop) == [Term(("東京",)), Term(("人口",))]
    assert question_terms("欧拉是哪国的数学家", stop) == [Term(("欧拉",)), Term(("数学", "学家"))]
    assert question_terms("센트리가 뭐예요?", stop) == [Term(("센트", "트리"))]

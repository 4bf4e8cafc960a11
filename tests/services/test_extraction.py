"""Extraction: concepts a person would keep, merged into the graph in a fixed number of
statements, on both engines."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.db import create_engine, create_session_factory, migrate
from app.models import Edge, Node
from app.search.folding import fold
from app.search.stopwords import stopwords, yake_stopwords
from app.services.concepts import extract_concepts
from app.services.extraction import analyse_document, graph_extraction_service
from tests.routers.test_ai import LITHUANIAN, SLOVAK

THREE_SENTENCES = (
    "Graph databases store nodes and edges. Relational databases store rows in tables. "
    "Graph queries traverse edges between nodes."
)
LONGER = (
    "Leonhard Euler was a Swiss mathematician. Euler lived in Basel and Saint Petersburg. "
    "Euler introduced the notation for functions and founded graph theory. The Königsberg "
    "bridges problem started graph theory. Euler published many papers on number theory, "
    "mechanics, optics and astronomy."
)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await migrate(engine)
    if database_url.startswith("postgresql"):
        async with engine.begin() as connection:
            await connection.execute(
                text("TRUNCATE nodes, node_tags, edges, extracted_documents CASCADE")
            )
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)


@contextmanager
def counted(engine: AsyncEngine) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)


async def _extract(sessions: async_sessionmaker[AsyncSession], owner: str, document: str) -> Any:
    async with sessions() as session:
        summary = await graph_extraction_service.extract(session, owner_id=owner, text=document)
        await session.commit()
    return summary


def test_no_concept_is_a_fragment_of_another_or_a_verb() -> None:
    concepts = extract_concepts(THREE_SENTENCES, language="en", limit=15)

    lowered = {c.lower() for c in concepts}
    assert {"graph databases", "relational databases", "nodes", "edges"} <= lowered
    assert not lowered & {"store", "traverse", "databases store", "store nodes", "store rows"}
    assert not lowered & {"graph", "databases"}  # fragments of "graph databases"
    for concept in lowered:
        assert not any(concept != other and f" {concept} " in f" {other} " for other in lowered)


def test_verb_only_words_do_not_become_concepts() -> None:
    lowered = {c.lower() for c in extract_concepts(LONGER, language="en", limit=15)}

    assert {"leonhard euler", "graph theory"} <= lowered
    assert not any(
        word in concept.split()
        for concept in lowered
        for word in ("lived", "introduced", "founded", "published", "started")
    )


@pytest.mark.parametrize(
    ("document", "language", "expected", "unwanted"),
    [
        (
            "센트리는 애플리케이션의 오류를 추적하는 도구입니다. "
            "센트리는 성능 모니터링도 제공합니다.",
            "ko",
            {"센트리", "오류", "모니터링"},
            {"센트리는", "오류를", "제공합니다", "추적하는"},
        ),
        (
            "東京都は日本の首都です。東京都の人口は約千四百万人です。",
            "ja",
            {"東京都", "首都", "人口"},
            set(),
        ),
        ("莱昂哈德·欧拉是瑞士数学家。欧拉在圣彼得堡工作。", "zh", {"欧拉"}, set()),
        (
            "Die Straße der Pariser Kommune liegt in Berlin. Berlin ist die Hauptstadt.",
            "de",
            {"Berlin", "Hauptstadt"},
            {"liegt"},
        ),
    ],
)
def test_concepts_in_other_languages_are_words_not_sentences(
    document: str, language: str, expected: set[str], unwanted: set[str]
) -> None:
    concepts = extract_concepts(document, language=language, limit=15)

    assert expected <= set(concepts)
    assert not unwanted & set(concepts)
    # Words, not sentences.
    assert all(len(concept.split()) <= 2 for concept in concepts)
    if language in {"ko", "ja", "zh"}:
        assert all(len(concept) <= 6 for concept in concepts)


@pytest.mark.parametrize(("text", "language"), [(LITHUANIAN, "lt"), (SLOVAK, "sk")])
def test_extraction_prints_nothing_for_languages_with_legacy_stopword_lists(
    capsys: pytest.CaptureFixture[str], text: str, language: str
) -> None:
    concepts = extract_concepts(text, language=language, limit=15)

    assert concepts
    assert capsys.readouterr().out == ""  # YAKE's encoding warning is not a JSON line


def test_stop_words_of_legacy_lists_are_read_in_their_encoding() -> None:
    assert {"nėra", "aš"} <= yake_stopwords("lt")
    assert "avšak" in yake_stopwords("sk")
    assert {fold("nėra"), fold("aš")} <= stopwords("lt")  # folded like indexed text
    assert fold("avšak") in stopwords("sk")
    assert not [word for word in stopwords("sk") | stopwords("lt") if "\ufffd" in word]


def test_edges_join_concepts_of_one_sentence_weighted_by_count() -> None:
    extraction = analyse_document(THREE_SENTENCES)

    pairs = {tuple(sorted(p.lower() for p in pair)): n for pair, n in extraction.pairs.items()}
    assert pairs[("edges", "nodes")] == 2  # sentences one and three
    assert pairs[("edges", "graph databases")] == 1
    assert ("relational databases", "nodes") not in pairs  # never in one sentence


async def test_a_jobs_statements_do_not_grow_with_its_concepts(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    with counted(engine) as small:
        few = await _extract(sessions, "alice", THREE_SENTENCES)
    with counted(engine) as large:
        many = await _extract(sessions, "bob", LONGER)

    assert few.nodes_created < many.nodes_created
    assert few.edges_created < many.edges_created
    assert len(small) == len(large) <= 10


async def test_extracting_the_same_text_twice_adds_nothing(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    first = await _extract(sessions, "alice", THREE_SENTENCES)
    async with sessions() as session:
        weights = sorted((await session.execute(select(Edge.weight))).scalars())
    second = await _extract(sessions, "alice", THREE_SENTENCES)

    assert first.nodes_created == len(first.concepts) > 0
    assert second.already_extracted
    assert second.nodes_created == second.edges_created == second.edges_strengthened == 0
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Node)) == len(first.concepts)
        assert sorted((await session.execute(select(Edge.weight))).scalars()) == weights


async def test_an_edge_strengthened_by_extraction_gets_a_new_etag(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _extract(sessions, "alice", THREE_SENTENCES)
    async with sessions() as session:
        before = {edge.id: edge.version for edge in (await session.execute(select(Edge))).scalars()}
    # Another text with "nodes" and "edges" in one sentence strengthens that edge.
    second = await _extract(sessions, "alice", "Every graph has nodes and edges.")
    async with sessions() as session:
        after = {edge.id: edge.version for edge in (await session.execute(select(Edge))).scalars()}

    assert second.edges_strengthened >= 1
    changed = [edge_id for edge_id, version in before.items() if after[edge_id] != version]
    assert len(changed) == second.edges_strengthened
    assert all(after[edge_id] == before[edge_id] + 1 for edge_id in changed)


async def test_extracted_nodes_are_searchable(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    from app.repositories.search import SearchRepository
    from app.search.terms import search_terms

    await _extract(sessions, "alice", THREE_SENTENCES)
    async with sessions() as session:
        hits = await SearchRepository.from_session(session).search(
            "alice", search_terms("relational"), limit=10
        )
    # The title outranks the bodies (each concept's first sentence).
    assert hits[0].node.title == "Relational databases"
    assert {hit.node.title for hit in hits} == {"Relational databases", "rows", "tables"}

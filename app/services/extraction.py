"""extract-graph: a document's concepts become nodes, their co-occurrences weighted edges.

A concept already in the owner's graph (same folded title) is reused; an edge between two
concepts is created or strengthened by the number of sentences they share; a document the
owner had extracted before adds nothing. The writes are a fixed number of statements
whatever the document's size (app.repositories.extraction).
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections import Counter
from dataclasses import asdict, dataclass

import anyio.to_thread
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.audit import audited
from app.models import utcnow
from app.repositories.extraction import ExtractionRepository, Link, NewNode
from app.repositories.graph import NodeRepository
from app.schemas.graph import BODY_MAX, TITLE_MAX
from app.search.folding import index_text, index_tokens
from app.search.terms import Term, phrase_tokens
from app.services.analysis import language_identifier, sentences
from app.services.concepts import extract_concepts

MAX_CONCEPTS = 15
RELATION = "co-occurs-with"
EXTRACTED_TAG = "extracted"


@dataclass(frozen=True, slots=True)
class Extraction:
    digest: str
    concepts: list[str]
    context: dict[str, str]  # concept -> first sentence mentioning it
    pairs: dict[tuple[str, str], int]  # (concept, concept) in canonical order -> sentences


def analyse_document(text: str) -> Extraction:
    """CPU-bound part: concepts, their first mention and sentence co-occurrence counts."""
    language, _ = language_identifier().classify(text)
    concepts = [
        concept[:TITLE_MAX]
        for concept in extract_concepts(text, language=str(language), limit=MAX_CONCEPTS)
    ]
    phrases = {concept: Term(phrase_tokens(concept)) for concept in concepts}
    context: dict[str, str] = {}
    pairs: Counter[tuple[str, str]] = Counter()
    for sentence in sentences(text):
        tokens = index_tokens(sentence)
        present = sorted(c for c, phrase in phrases.items() if phrase.occurs_in(tokens))
        for concept in present:
            context.setdefault(concept, sentence[:BODY_MAX])
        pairs.update(itertools.combinations(present, 2))
    return Extraction(
        digest=hashlib.sha256(text.encode()).hexdigest(),
        concepts=concepts,
        context=context,
        pairs=dict(pairs),
    )


@dataclass(frozen=True, slots=True)
class ExtractionSummary:
    concepts: list[str]
    nodes_created: int
    nodes_reused: int
    edges_created: int
    edges_strengthened: int
    already_extracted: bool

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@audited
class GraphExtractionService:
    async def extract(
        self, session: AsyncSession, *, owner_id: str, text: str
    ) -> ExtractionSummary:
        extraction = await anyio.to_thread.run_sync(analyse_document, text)
        writes = ExtractionRepository.from_session(session)
        # Two jobs of one owner at once would both miss a concept and create it twice:
        # whoever comes second reads after the first committed.
        await NodeRepository.from_session(session).lock_owner(owner_id)
        now = utcnow()
        first_time = await writes.record_document(owner_id, extraction.digest, now)
        existing = await writes.nodes_by_search_title(owner_id, extraction.concepts)
        if not first_time:
            return ExtractionSummary(
                concepts=extraction.concepts,
                nodes_created=0,
                nodes_reused=len(existing),
                edges_created=0,
                edges_strengthened=0,
                already_extracted=True,
            )

        ids: dict[str, uuid.UUID] = {}
        new_nodes: list[NewNode] = []
        for concept in extraction.concepts:
            node = existing.get(index_text(concept))
            if node is not None:
                ids[concept] = node.id
            else:
                new = NewNode(uuid.uuid4(), concept, extraction.context.get(concept, ""))
                ids[concept] = new.id
                new_nodes.append(new)
        await writes.add_nodes(owner_id, new_nodes, tag=EXTRACTED_TAG, now=now)

        links = [
            Link(ids[first], ids[second], float(count))
            for (first, second), count in sorted(extraction.pairs.items())
            if ids[first] != ids[second]
        ]
        known = await writes.existing_links(
            owner_id, RELATION, [(link.source_id, link.target_id) for link in links]
        )
        await writes.merge_links(owner_id, RELATION, links, now=now)
        strengthened = sum((link.source_id, link.target_id) in known for link in links)
        return ExtractionSummary(
            concepts=extraction.concepts,
            nodes_created=len(new_nodes),
            nodes_reused=len(extraction.concepts) - len(new_nodes),
            edges_created=len(links) - strengthened,
            edges_strengthened=strengthened,
            already_extracted=False,
        )


graph_extraction_service = GraphExtractionService()

"""extract-graph: a document's concepts become nodes, their co-occurrences weighted edges."""

from __future__ import annotations

import itertools
import uuid
from collections import Counter
from dataclasses import asdict, dataclass

import anyio.to_thread
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.audit import audited
from app.models import Edge, Node, utcnow
from app.repositories.graph import EdgeRepository, NodeRepository
from app.schemas.graph import BODY_MAX, TITLE_MAX
from app.services.analysis import extract_concepts, sentences

MAX_CONCEPTS = 15
RELATION = "co-occurs-with"
EXTRACTED_TAG = "extracted"


@dataclass(frozen=True, slots=True)
class Extraction:
    concepts: list[str]
    context: dict[str, str]  # concept (lower case) -> first sentence mentioning it
    pairs: dict[tuple[str, str], int]  # (concept, concept) in canonical order -> sentences


def analyse_document(text: str) -> Extraction:
    """CPU-bound part: concepts, their first mention and sentence co-occurrence counts."""
    concepts = [c[:TITLE_MAX] for c in extract_concepts(text, limit=MAX_CONCEPTS)]
    lowered = [c.lower() for c in concepts]
    context: dict[str, str] = {}
    pairs: Counter[tuple[str, str]] = Counter()
    for sentence in sentences(text):
        haystack = sentence.lower()
        present = sorted({c for c in lowered if c in haystack})
        for concept in present:
            context.setdefault(concept, sentence[:BODY_MAX])
        pairs.update(itertools.combinations(present, 2))
    return Extraction(concepts=concepts, context=context, pairs=dict(pairs))


@dataclass(frozen=True, slots=True)
class ExtractionSummary:
    concepts: list[str]
    nodes_created: int
    nodes_reused: int
    edges_created: int
    edges_strengthened: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@audited
class GraphExtractionService:
    async def extract(
        self, session: AsyncSession, *, owner_id: str, text: str
    ) -> ExtractionSummary:
        extraction = await anyio.to_thread.run_sync(analyse_document, text)
        nodes = NodeRepository.from_session(session)
        edges = EdgeRepository.from_session(session)
        # Two jobs of one owner at once would both miss a concept and create it twice, and
        # lose one's weight update: whoever comes second reads after the first committed.
        await nodes.lock_owner(owner_id)

        existing = await nodes.by_titles(owner_id, extraction.concepts)
        by_concept: dict[str, Node] = {}
        created = 0
        for concept in extraction.concepts:
            key = concept.lower()
            node = existing.get(key)
            if node is None:
                now = utcnow()
                node = await nodes.add(
                    Node(
                        id=uuid.uuid4(),
                        owner_id=owner_id,
                        title=concept,
                        body=extraction.context.get(key, ""),
                        created_at=now,
                        updated_at=now,
                    ),
                    [EXTRACTED_TAG],
                )
                created += 1
            by_concept[key] = node

        new_edges = strengthened = 0
        for (first, second), count in sorted(extraction.pairs.items()):
            source, target = by_concept[first], by_concept[second]
            edge = await edges.find_link(owner_id, source.id, target.id, RELATION)
            if edge is None:
                now = utcnow()
                await edges.add(
                    Edge(
                        id=uuid.uuid4(),
                        owner_id=owner_id,
                        source_id=source.id,
                        target_id=target.id,
                        relation=RELATION,
                        weight=float(count),
                        created_at=now,
                        updated_at=now,
                    )
                )
                new_edges += 1
            else:
                edge.weight += count
                edge.updated_at = utcnow()
                strengthened += 1
        await session.flush()
        return ExtractionSummary(
            concepts=extraction.concepts,
            nodes_created=created,
            nodes_reused=len(by_concept) - created,
            edges_created=new_edges,
            edges_strengthened=strengthened,
        )


graph_extraction_service = GraphExtractionService()

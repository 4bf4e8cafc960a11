"""The writes of one extraction job, each a single statement however many rows it has."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from app.models import Edge, ExtractedDocument, Node, NodeTag
from app.repositories.base import Repository
from app.search.folding import index_text


@dataclass(frozen=True, slots=True)
class NewNode:
    id: uuid.UUID
    title: str
    body: str


@dataclass(frozen=True, slots=True)
class Link:
    source_id: uuid.UUID
    target_id: uuid.UUID
    weight: float


class ExtractionRepository(Repository):
    def _insert(self, table: Any) -> Any:
        dialect = self.session.get_bind().dialect.name
        if dialect == "postgresql":
            return postgresql.insert(table)
        if dialect == "sqlite":
            return sqlite.insert(table)
        raise NotImplementedError(f"upserts on {dialect}")

    async def record_document(self, owner_id: str, digest: str, now: datetime) -> bool:
        """Remember a document; False when its owner had it extracted already."""
        statement = (
            self._insert(ExtractedDocument)
            .values(owner_id=owner_id, digest=digest, created_at=now)
            .on_conflict_do_nothing(index_elements=["owner_id", "digest"])
        )
        result = cast(CursorResult[Any], await self.session.execute(statement))
        return bool(result.rowcount)

    async def nodes_by_search_title(self, owner_id: str, titles: Sequence[str]) -> dict[str, Node]:
        """The owner's nodes whose folded title is one of `titles`'s, by folded title."""
        folded = sorted({index_text(title) for title in titles})
        if not folded:
            return {}
        result = await self.session.execute(
            select(Node)
            .where(Node.owner_id == owner_id, Node.search_title.in_(folded))
            .order_by(Node.created_at, Node.id)
        )
        found: dict[str, Node] = {}
        for node in result.scalars():
            found.setdefault(node.search_title, node)
        return found

    async def add_nodes(
        self, owner_id: str, nodes: Sequence[NewNode], *, tag: str, now: datetime
    ) -> None:
        if not nodes:
            return
        await self.session.execute(
            insert(Node),
            [
                {
                    "id": node.id,
                    "owner_id": owner_id,
                    "title": node.title,
                    "body": node.body,
                    "search_title": index_text(node.title),
                    "search_body": index_text(node.body),
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
                for node in nodes
            ],
        )
        await self.session.execute(
            insert(NodeTag), [{"node_id": node.id, "tag": tag, "position": 0} for node in nodes]
        )

    async def existing_links(
        self, owner_id: str, relation: str, pairs: Sequence[tuple[uuid.UUID, uuid.UUID]]
    ) -> set[tuple[uuid.UUID, uuid.UUID]]:
        if not pairs:
            return set()
        wanted = set(pairs)
        # Plain IN lists use the source index on both engines (a row-value IN does not on
        # SQLite); the few extra rows are dropped here.
        result = await self.session.execute(
            select(Edge.source_id, Edge.target_id).where(
                Edge.source_id.in_({source for source, _ in wanted}),
                Edge.target_id.in_({target for _, target in wanted}),
                Edge.owner_id == owner_id,
                Edge.relation == relation,
            )
        )
        return {(source, target) for source, target in result} & wanted

    async def merge_links(
        self, owner_id: str, relation: str, links: Sequence[Link], *, now: datetime
    ) -> None:
        """Create each link, or add its weight to the existing one (one statement)."""
        if not links:
            return
        statement = self._insert(Edge)
        statement = statement.on_conflict_do_update(
            index_elements=["owner_id", "source_id", "target_id", "relation"],
            set_={
                "weight": Edge.weight + statement.excluded.weight,
                "updated_at": statement.excluded.updated_at,
                # A changed edge gets a new ETag: a PATCH with an older If-Match is a 412.
                "version": Edge.version + 1,
            },
        )
        await self.session.execute(
            statement,
            [
                {
                    "id": uuid.uuid4(),
                    "owner_id": owner_id,
                    "source_id": link.source_id,
                    "target_id": link.target_id,
                    "relation": relation,
                    "weight": link.weight,
                    "created_at": now,
                    "updated_at": now,
                }
                for link in links
            ],
        )

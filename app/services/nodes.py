"""Business rules of the caller's nodes. Audited; never commits (the caller's unit of work does)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from app.core.audit import audited
from app.models import Edge, Node, utcnow
from app.repositories.graph import Direction, EdgeRepository, NodeRepository
from app.repositories.search import SearchRepository
from app.schemas.graph import NodeCreate, NodeUpdate
from app.schemas.pagination import Cursor, PageRequest, next_cursor
from app.search.terms import search_terms
from app.services.resources import changed_concurrently, existing, not_found

NODE = "node"


@dataclass(frozen=True, slots=True)
class Neighbour:
    edge: Edge
    node: Node
    direction: Literal["out", "in"]


@audited
class NodeService:
    async def create(self, session: AsyncSession, *, owner_id: str, data: NodeCreate) -> Node:
        now = utcnow()
        node = Node(
            id=uuid.uuid4(),
            owner_id=owner_id,
            title=data.title,
            body=data.body,
            created_at=now,
            updated_at=now,
        )
        return await NodeRepository.from_session(session).add(node, data.tags)

    async def get(self, session: AsyncSession, *, owner_id: str, node_id: uuid.UUID) -> Node:
        return existing(await NodeRepository.from_session(session).get(owner_id, node_id), NODE)

    async def list_nodes(
        self,
        session: AsyncSession,
        *,
        owner_id: str,
        page: PageRequest,
        tag: str | None = None,
        text: str | None = None,
    ) -> tuple[list[Node], str | None]:
        """Newest first; with `text`, the nodes matching every word of it, best first."""
        if text is not None:
            hits = await SearchRepository.from_session(session).search(
                owner_id,
                search_terms(text),
                limit=page.limit,
                after=page.after,
                tag=tag,
            )
            after_hits = None
            if len(hits) == page.limit:
                after_hits = Cursor(hits[-1].score, hits[-1].node.id).encode()
            return [hit.node for hit in hits], after_hits
        nodes = await NodeRepository.from_session(session).page(
            owner_id, limit=page.limit, after=page.after, tag=tag
        )
        return nodes, next_cursor(nodes, page.limit)

    async def update(
        self,
        session: AsyncSession,
        *,
        owner_id: str,
        node_id: uuid.UUID,
        changes: NodeUpdate,
        if_match: str | None = None,
    ) -> Node:
        repository = NodeRepository.from_session(session)
        node = existing(await repository.get(owner_id, node_id), NODE, if_match=if_match)
        fields = changes.model_fields_set
        if "title" in fields and changes.title is not None:
            node.title = changes.title
        if "body" in fields and changes.body is not None:
            node.body = changes.body
        if "tags" in fields and changes.tags is not None:
            repository.replace_tags(node, changes.tags)
        node.updated_at = utcnow()
        try:
            await session.flush()
        except StaleDataError:
            raise changed_concurrently(NODE) from None
        return node

    async def delete(
        self,
        session: AsyncSession,
        *,
        owner_id: str,
        node_id: uuid.UUID,
        if_match: str | None = None,
    ) -> None:
        repository = NodeRepository.from_session(session)
        node = existing(await repository.get(owner_id, node_id), NODE, if_match=if_match)
        try:
            await repository.delete(node)
        except StaleDataError:
            raise changed_concurrently(NODE) from None

    async def list_edges(
        self,
        session: AsyncSession,
        *,
        owner_id: str,
        node_id: uuid.UUID,
        direction: Direction,
        page: PageRequest,
    ) -> tuple[list[Edge], str | None]:
        if not await NodeRepository.from_session(session).existing_ids(owner_id, [node_id]):
            raise not_found(NODE)
        edges = await EdgeRepository.from_session(session).page_for_node(
            owner_id, node_id, direction=direction, limit=page.limit, after=page.after
        )
        return edges, next_cursor(edges, page.limit)

    async def neighbours(
        self, session: AsyncSession, *, owner_id: str, node_id: uuid.UUID, limit: int
    ) -> list[Neighbour]:
        repository = NodeRepository.from_session(session)
        if not await repository.existing_ids(owner_id, [node_id]):
            raise not_found(NODE)
        rows = await repository.neighbours(owner_id, node_id, limit=limit)
        return [Neighbour(edge, node, direction) for edge, node, direction in rows]


node_service = NodeService()

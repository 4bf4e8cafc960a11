"""Business rules of the per-user graph. Audited; never commits (the caller's unit of work does)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from app.core.audit import audited
from app.errors.exceptions import Conflict, NotFound, PreconditionFailed
from app.models import Edge, Node, utcnow
from app.repositories.cursor import Cursor
from app.repositories.graph import Direction, EdgeRepository, NodeRepository
from app.repositories.search import SearchRepository
from app.schemas.graph import EdgeCreate, EdgeUpdate, NodeCreate, NodeUpdate, TagCount
from app.search.terms import search_terms


def etag(resource: Node | Edge) -> str:
    return f'"{resource.id.hex}.{resource.version}"'


def _check_precondition(resource: Node | Edge, if_match: str | None, *, what: str = "node") -> None:
    """RFC 9110 If-Match with strong comparison: `*` or a list of entity tags."""
    if if_match is None or if_match.strip() == "*":
        return
    if etag(resource) not in {tag.strip() for tag in if_match.split(",")}:
        raise PreconditionFailed(
            f"The {what} changed since you read it: fetch it again and retry with its ETag."
        )


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int
    after: Cursor | None = None


@dataclass(frozen=True, slots=True)
class Neighbour:
    edge: Edge
    node: Node
    direction: Literal["out", "in"]


def _next_cursor(rows: list[Node] | list[Edge], limit: int) -> str | None:
    if len(rows) < limit:
        return None
    last = rows[-1]
    return Cursor.at(last.created_at, last.id).encode()


def _node_not_found() -> NotFound:
    return NotFound("There is no node with this id.")


def _changed_concurrently() -> PreconditionFailed:
    # Another transaction updated or deleted the row between our read and our write (the
    # version column caught it). Fetching it again tells the client which.
    return PreconditionFailed("The node was changed concurrently; fetch it again.")


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
        node = await NodeRepository.from_session(session).get(owner_id, node_id)
        if node is None:
            raise _node_not_found()
        return node

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
            next_cursor = None
            if len(hits) == page.limit:
                next_cursor = Cursor(hits[-1].score, hits[-1].node.id).encode()
            return [hit.node for hit in hits], next_cursor
        nodes = await NodeRepository.from_session(session).page(
            owner_id, limit=page.limit, after=page.after, tag=tag
        )
        return nodes, _next_cursor(nodes, page.limit)

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
        node = await repository.get(owner_id, node_id)
        if node is None:
            raise _node_not_found()
        _check_precondition(node, if_match)
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
            raise _changed_concurrently() from None
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
        node = await repository.get(owner_id, node_id)
        if node is None:
            raise _node_not_found()
        _check_precondition(node, if_match)
        try:
            await repository.delete(node)
        except StaleDataError:
            raise _changed_concurrently() from None

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
            raise _node_not_found()
        edges = await EdgeRepository.from_session(session).page_for_node(
            owner_id, node_id, direction=direction, limit=page.limit, after=page.after
        )
        return edges, _next_cursor(edges, page.limit)

    async def neighbours(
        self, session: AsyncSession, *, owner_id: str, node_id: uuid.UUID, limit: int
    ) -> list[Neighbour]:
        repository = NodeRepository.from_session(session)
        if not await repository.existing_ids(owner_id, [node_id]):
            raise _node_not_found()
        rows = await repository.neighbours(owner_id, node_id, limit=limit)
        return [Neighbour(edge, node, direction) for edge, node, direction in rows]


@audited
class EdgeService:
    async def create(self, session: AsyncSession, *, owner_id: str, data: EdgeCreate) -> Edge:
        existing = await NodeRepository.from_session(session).existing_ids(
            owner_id, [data.source_id, data.target_id]
        )
        missing = [
            {"detail": "There is no node with this id.", "pointer": f"#/{member}"}
            for member, node_id in (("source_id", data.source_id), ("target_id", data.target_id))
            if node_id not in existing
        ]
        if missing:
            # 404 like any other reference to a node the caller cannot see; `errors` says which.
            raise NotFound("The edge refers to a node that does not exist.", errors=missing)
        edges = EdgeRepository.from_session(session)
        duplicate = await edges.find_link(owner_id, data.source_id, data.target_id, data.relation)
        if duplicate is not None:
            raise Conflict(
                "An edge with this source, target and relation exists.",
                existing_id=str(duplicate.id),
            )
        now = utcnow()
        edge = Edge(
            id=uuid.uuid4(),
            owner_id=owner_id,
            source_id=data.source_id,
            target_id=data.target_id,
            relation=data.relation,
            weight=data.weight,
            created_at=now,
            updated_at=now,
        )
        try:
            return await edges.add(edge)
        except IntegrityError:
            # Since our checks, a concurrent request created the same edge or deleted one
            # of the nodes; retrying gives the precise answer (409 with the id, or 404).
            raise Conflict("The edge conflicts with a concurrent change; retry.") from None

    async def get(self, session: AsyncSession, *, owner_id: str, edge_id: uuid.UUID) -> Edge:
        edge = await EdgeRepository.from_session(session).get(owner_id, edge_id)
        if edge is None:
            raise NotFound("There is no edge with this id.")
        return edge

    async def update(
        self,
        session: AsyncSession,
        *,
        owner_id: str,
        edge_id: uuid.UUID,
        changes: EdgeUpdate,
        if_match: str | None = None,
    ) -> Edge:
        edges = EdgeRepository.from_session(session)
        edge = await edges.get(owner_id, edge_id)
        if edge is None:
            raise NotFound("There is no edge with this id.")
        _check_precondition(edge, if_match, what="edge")
        fields = changes.model_fields_set
        if "relation" in fields and changes.relation is not None:
            if changes.relation != edge.relation:
                duplicate = await edges.find_link(
                    owner_id, edge.source_id, edge.target_id, changes.relation
                )
                if duplicate is not None:
                    raise Conflict(
                        "An edge with this source, target and relation exists.",
                        existing_id=str(duplicate.id),
                    )
            edge.relation = changes.relation
        if "weight" in fields and changes.weight is not None:
            edge.weight = changes.weight
        edge.updated_at = utcnow()
        try:
            await session.flush()
        except StaleDataError:
            raise PreconditionFailed("The edge was changed concurrently; fetch it again.") from None
        except IntegrityError:
            raise Conflict("The edge conflicts with a concurrent change; retry.") from None
        return edge

    async def delete(self, session: AsyncSession, *, owner_id: str, edge_id: uuid.UUID) -> None:
        edges = EdgeRepository.from_session(session)
        edge = await edges.get(owner_id, edge_id)
        if edge is None:
            raise NotFound("There is no edge with this id.")
        await edges.delete(edge)


@audited
class TagService:
    async def list_tags(
        self, session: AsyncSession, *, owner_id: str, limit: int, after: str | None = None
    ) -> tuple[list[TagCount], str | None]:
        """The owner's tags in order with how many nodes carry each; the cursor is a tag."""
        rows = await NodeRepository.from_session(session).tag_counts(
            owner_id, limit=limit, after=after
        )
        tags = [TagCount(tag=tag, nodes=count) for tag, count in rows]
        return tags, (tags[-1].tag if len(tags) == limit else None)


node_service = NodeService()
tag_service = TagService()
edge_service = EdgeService()

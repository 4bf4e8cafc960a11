"""All SQL of the graph: nodes (with tags) and edges, always scoped to one owner."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Literal

from sqlalchemy import (
    and_,
    case,
    delete,
    exists,
    false,
    func,
    or_,
    select,
    text,
    true,
    union,
    update,
)
from sqlalchemy.orm import joinedload
from sqlalchemy.sql import ColumnElement

from app.models import Edge, Node, NodeTag
from app.repositories.base import Repository
from app.schemas.pagination import Cursor

Direction = Literal["out", "in", "both"]


def _after(model: type[Node] | type[Edge], cursor: Cursor | None) -> ColumnElement[bool]:
    # Newest first; the id breaks ties between rows created in the same microsecond. The
    # redundant `<=` is a range the index can seek to: without it SQLite reads the
    # owner's rows from the newest down to the cursor (linear in the page's depth).
    if cursor is None:
        return true()
    return and_(
        model.created_at <= cursor.created_at,
        or_(
            model.created_at < cursor.created_at,
            and_(model.created_at == cursor.created_at, model.id < cursor.id),
        ),
    )


class NodeRepository(Repository):
    async def lock_owner(self, owner_id: str) -> None:
        """Serialise read-then-write changes to one owner's graph until the transaction ends.

        PostgreSQL: a transaction-scoped advisory lock on the owner. SQLite has one writer
        at a time: a write that changes nothing starts the write transaction now, so what
        is read next already includes every other writer's committed changes.
        """
        dialect = self.session.get_bind().dialect.name
        if dialect == "postgresql":
            await self.session.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                {"key": f"graphnode.graph:{owner_id}"},
            )
        elif dialect == "sqlite":
            await self.session.execute(update(Node).where(false()).values(owner_id=Node.owner_id))

    async def add(self, node: Node, tags: Sequence[str]) -> Node:
        node.tag_rows = [NodeTag(tag=tag, position=i) for i, tag in enumerate(tags)]
        self.session.add(node)
        await self.session.flush()
        return node

    def replace_tags(self, node: Node, tags: Sequence[str]) -> None:
        existing = {row.tag: row for row in node.tag_rows}
        rows = []
        for position, tag in enumerate(tags):
            row = existing.get(tag) or NodeTag(tag=tag)
            row.position = position
            rows.append(row)
        node.tag_rows = rows

    async def get(self, owner_id: str, node_id: uuid.UUID) -> Node | None:
        """The node with its tags, in one statement (a join, not a second query)."""
        result = await self.session.execute(
            select(Node)
            .options(joinedload(Node.tag_rows))
            .where(Node.id == node_id, Node.owner_id == owner_id)
        )
        return result.unique().scalar_one_or_none()

    async def existing_ids(self, owner_id: str, node_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        result = await self.session.execute(
            select(Node.id).where(Node.owner_id == owner_id, Node.id.in_(node_ids))
        )
        return set(result.scalars())

    async def page(
        self,
        owner_id: str,
        *,
        limit: int,
        after: Cursor | None = None,
        tag: str | None = None,
    ) -> list[Node]:
        statement = select(Node).where(Node.owner_id == owner_id, _after(Node, after))
        if tag is not None:
            statement = statement.where(
                exists().where(NodeTag.node_id == Node.id, NodeTag.tag == tag)
            )
        statement = statement.order_by(Node.created_at.desc(), Node.id.desc()).limit(limit)
        return list((await self.session.execute(statement)).scalars())

    async def tag_counts(
        self, owner_id: str, *, limit: int, after: str | None = None
    ) -> list[tuple[str, int]]:
        """(tag, number of the owner's nodes with it), by tag, after `after`."""
        statement = (
            select(NodeTag.tag, func.count(NodeTag.node_id))
            .join(Node, Node.id == NodeTag.node_id)
            .where(Node.owner_id == owner_id)
            .group_by(NodeTag.tag)
            .order_by(NodeTag.tag)
            .limit(limit)
        )
        if after is not None:
            statement = statement.where(NodeTag.tag > after)
        result = await self.session.execute(statement)
        return [(tag, count) for tag, count in result]

    async def delete(self, node: Node) -> None:
        # The foreign keys cascade too; deleting explicitly keeps the unit of work honest.
        node_id = node.id
        await self.session.execute(
            delete(Edge).where(or_(Edge.source_id == node_id, Edge.target_id == node_id))
        )
        await self.session.delete(node)
        await self.session.flush()

    async def neighbours(
        self, owner_id: str, node_id: uuid.UUID, *, limit: int
    ) -> list[tuple[Edge, Node, Literal["out", "in"]]]:
        # The node's edges come from two index lookups (source; target); the other end
        # by primary key. An OR over source and target made SQLite read every edge of the
        # owner, and an OR in the join every node.
        touching = union(
            select(Edge.id).where(Edge.owner_id == owner_id, Edge.source_id == node_id),
            select(Edge.id).where(Edge.owner_id == owner_id, Edge.target_id == node_id),
        ).subquery()
        other_end = case((Edge.source_id == node_id, Edge.target_id), else_=Edge.source_id)
        statement = (
            select(Edge, Node)
            .join(Node, Node.id == other_end)
            .where(Edge.id.in_(select(touching.c.id)), Node.owner_id == owner_id)
            .order_by(Edge.weight.desc(), Edge.created_at.desc(), Edge.id.desc())
            .limit(limit)
        )
        result = await self.session.execute(statement)
        return [(edge, node, "out" if edge.source_id == node_id else "in") for edge, node in result]


class EdgeRepository(Repository):
    async def add(self, edge: Edge) -> Edge:
        self.session.add(edge)
        await self.session.flush()
        return edge

    async def get(self, owner_id: str, edge_id: uuid.UUID) -> Edge | None:
        result = await self.session.execute(
            select(Edge).where(Edge.id == edge_id, Edge.owner_id == owner_id)
        )
        return result.scalar_one_or_none()

    async def find_link(
        self, owner_id: str, source_id: uuid.UUID, target_id: uuid.UUID, relation: str
    ) -> Edge | None:
        result = await self.session.execute(
            select(Edge).where(
                Edge.owner_id == owner_id,
                Edge.source_id == source_id,
                Edge.target_id == target_id,
                Edge.relation == relation,
            )
        )
        return result.scalar_one_or_none()

    async def page_for_node(
        self,
        owner_id: str,
        node_id: uuid.UUID,
        *,
        direction: Direction,
        limit: int,
        after: Cursor | None = None,
    ) -> list[Edge]:
        touches = {
            "out": Edge.source_id == node_id,
            "in": Edge.target_id == node_id,
            "both": or_(Edge.source_id == node_id, Edge.target_id == node_id),
        }[direction]
        statement = (
            select(Edge)
            .where(Edge.owner_id == owner_id, touches, _after(Edge, after))
            .order_by(Edge.created_at.desc(), Edge.id.desc())
            .limit(limit)
        )
        return list((await self.session.execute(statement)).scalars())

    async def delete(self, edge: Edge) -> None:
        await self.session.delete(edge)
        await self.session.flush()

"""Business rules of the caller's edges. Audited; never commits (the caller's unit of work does)."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from app.core.audit import audited
from app.errors.exceptions import Conflict, NotFound
from app.models import Edge, utcnow
from app.repositories.graph import EdgeRepository, NodeRepository
from app.schemas.graph import EdgeCreate, EdgeUpdate
from app.services.resources import changed_concurrently, existing

EDGE = "edge"


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
        return existing(await EdgeRepository.from_session(session).get(owner_id, edge_id), EDGE)

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
        edge = existing(await edges.get(owner_id, edge_id), EDGE, if_match=if_match)
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
            raise changed_concurrently(EDGE) from None
        except IntegrityError:
            raise Conflict("The edge conflicts with a concurrent change; retry.") from None
        return edge

    async def delete(self, session: AsyncSession, *, owner_id: str, edge_id: uuid.UUID) -> None:
        edges = EdgeRepository.from_session(session)
        await edges.delete(existing(await edges.get(owner_id, edge_id), EDGE))


edge_service = EdgeService()

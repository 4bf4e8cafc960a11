"""The caller's tags. Audited; never commits (the caller's unit of work does)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.audit import audited
from app.repositories.graph import NodeRepository
from app.schemas.graph import TagCount


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


tag_service = TagService()

"""ORM models: the per-user graph (nodes, their tags, edges)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from app.search.folding import index_text

OWNER_LENGTH = 128


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


def kept_out_of_models(name: str | None) -> bool:
    """The full-text index objects, which only the migrations know (dialect-specific)."""
    return name is not None and (
        name.startswith("nodes_fts") or name in {"search_vector", "ix_nodes_search"}
    )


class Node(Base):
    """A node; `search_title`/`search_body` are its folded text, which the engines index.

    They are set whenever the title or body is (see `_fold`); writes that bypass the ORM
    (bulk inserts) set them with `app.search.folding.index_text` too.
    """

    __tablename__ = "nodes"
    __table_args__ = (
        Index("ix_nodes_owner_created", "owner_id", "created_at", "id"),
        Index("ix_nodes_owner_search_title", "owner_id", "search_title"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[str] = mapped_column(String(OWNER_LENGTH))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    search_title: Mapped[str] = mapped_column(Text, default="")
    search_body: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    tag_rows: Mapped[list[NodeTag]] = relationship(
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="NodeTag.position",
        passive_deletes=True,
    )

    # Optimistic concurrency: an UPDATE that finds another version raises StaleDataError.
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012  # SQLAlchemy's declarative API

    @property
    def tags(self) -> list[str]:
        return [row.tag for row in self.tag_rows]

    @validates("title", "body")
    def _fold(self, key: str, value: str) -> str:
        folded = index_text(value or "")
        if key == "title":
            self.search_title = folded
        else:
            self.search_body = folded
        return value


class NodeTag(Base):
    __tablename__ = "node_tags"
    __table_args__ = (Index("ix_node_tags_tag", "tag", "node_id"),)

    node_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(50), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Edge(Base):
    __tablename__ = "edges"
    __table_args__ = (
        UniqueConstraint("owner_id", "source_id", "target_id", "relation", name="uq_edges_link"),
        Index("ix_edges_source", "source_id", "created_at", "id"),
        Index("ix_edges_target", "target_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[str] = mapped_column(String(OWNER_LENGTH))
    source_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"))
    target_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"))
    relation: Mapped[str] = mapped_column(String(64))
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # Optimistic concurrency for PATCH, as for nodes.
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012  # SQLAlchemy's declarative API


class ExtractedDocument(Base):
    """A text already extracted into its owner's graph (by digest): extracting it again
    adds nothing."""

    __tablename__ = "extracted_documents"

    owner_id: Mapped[str] = mapped_column(String(OWNER_LENGTH), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Job(Base):
    """A unit of background work, owned by a user; the worker's source of truth."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_owner_created", "owner_id", "created_at"),
        Index("ix_jobs_unsent", "sent_at", "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[str] = mapped_column(String(OWNER_LENGTH))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    input_text: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    correlation_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    problem: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Transactional outbox: the message labels (request context, trace) stored with the job,
    # and when the broker accepted its message; NULL means the relay still has to send it.
    labels: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class IdempotencyKey(Base):
    """The first response to a user's `Idempotency-Key`, replayed to retries until expiry.

    `status_code` is null while the first request is in flight; `token` names the request
    holding the reservation, so only it can record the response or release the key.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_expires_at", "expires_at"),)

    owner_id: Mapped[str] = mapped_column(String(OWNER_LENGTH), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    token: Mapped[uuid.UUID] = mapped_column(Uuid)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_body: Mapped[Any] = mapped_column(JSON, nullable=True)
    response_headers: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

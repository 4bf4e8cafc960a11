"""The app a team would write without observability: FastAPI + SQLAlchemy async + PyJWT.

Serves the same JSON as our `GET /v1/nodes/{node_id}` and `POST /v1/nodes` on our schema
(the migrations create it), for the same HS256 bearer tokens. `bench.realroute` compares
it with ours; `bench.usual_app` adds the usual observability stack to it.
"""

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

import jwt
from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy import DateTime, ForeignKey, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Tag(Base):
    __tablename__ = "node_tags"
    node_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("nodes.id"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(50), primary_key=True)
    position: Mapped[int]


class Node(Base):
    __tablename__ = "nodes"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[str]
    title: Mapped[str]
    body: Mapped[str] = mapped_column(Text)
    search_title: Mapped[str] = mapped_column(Text)
    search_body: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    tag_rows: Mapped[list["Tag"]] = relationship(lazy="selectin", order_by=Tag.position)


class NodeIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    body: str = ""
    tags: list[Annotated[str, Field(min_length=1, max_length=50)]] = []


class NodeOut(BaseModel):
    id: uuid.UUID
    title: str
    body: str
    tags: list[str]
    created_at: datetime
    updated_at: datetime


def _out(node: Node) -> NodeOut:
    tags = [row.tag for row in node.tag_rows]
    return NodeOut(**{k: getattr(node, k) for k in NodeOut.model_fields if k != "tags"}, tags=tags)


def create_app() -> FastAPI:
    engine = create_async_engine(os.environ["DATABASE_URL"])
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    secret, issuer = os.environ["JWT_SECRET"], os.environ.get("JWT_ISSUER", "graphnode-api")
    bearer = HTTPBearer()
    app = FastAPI()

    # No `from __future__ import annotations`: FastAPI reads these local aliases at runtime.
    async def session() -> AsyncIterator[AsyncSession]:
        async with sessions() as db:
            yield db

    def user(credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]) -> str:
        try:
            claims = jwt.decode(
                credentials.credentials, secret, ["HS256"], audience=issuer, issuer=issuer
            )
        except jwt.InvalidTokenError:
            raise HTTPException(401, "invalid token") from None
        return str(claims["sub"])

    Db = Annotated[AsyncSession, Depends(session)]
    User = Annotated[str, Depends(user)]

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/nodes/{node_id}")
    async def get_node(node_id: uuid.UUID, db: Db, owner: User) -> NodeOut:
        node = await db.scalar(select(Node).where(Node.id == node_id, Node.owner_id == owner))
        if node is None:
            raise HTTPException(404, "not found")
        return _out(node)

    @app.post("/v1/nodes", status_code=201)
    async def create_node(data: NodeIn, db: Db, owner: User) -> NodeOut:
        now = datetime.now(UTC)
        node = Node(owner_id=owner, title=data.title, body=data.body, created_at=now)
        node.search_title, node.search_body = data.title.casefold(), data.body.casefold()
        node.updated_at = now
        node.tag_rows = [Tag(tag=tag, position=i) for i, tag in enumerate(data.tags)]
        db.add(node)
        await db.commit()
        return _out(node)

    return app

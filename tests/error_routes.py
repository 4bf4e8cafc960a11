"""Routes and middleware that exercise each error path; added to a real app in tests."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Annotated

import sentry_sdk
import structlog
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.context import current, set_user_id
from app.errors.exceptions import (
    Conflict,
    Forbidden,
    PayloadTooLarge,
    PreconditionFailed,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
    UpstreamError,
    UpstreamTimeout,
)

SECRET_EXCEPTION_TEXT = "db password is hunter2-secret"

router = APIRouter(prefix="/test")
log = structlog.get_logger("tests.routes")


def authenticate(x_test_user: Annotated[str | None, Header()] = None) -> str | None:
    # Sync on purpose: FastAPI runs it in a worker thread with a copied context.
    if x_test_user is not None:
        set_user_id(x_test_user)
    return x_test_user


def forbid(x_block: Annotated[str | None, Header()] = None) -> None:
    if x_block is not None:
        raise HTTPException(401, detail="Blocked by a dependency", headers={"X-Reason": "dep"})


class Item(BaseModel):
    title: str = Field(max_length=10)
    tags: list[str] = Field(default_factory=list, max_length=3)


class ItemOut(BaseModel):
    item_id: int
    title: str


@router.get("/items/{item_id}")
async def get_item(
    item_id: int,
    user: Annotated[str | None, Depends(authenticate)],
    _: Annotated[None, Depends(forbid)],
    limit: Annotated[int, Query(le=100)] = 10,
    x_tenant: Annotated[str | None, Header(min_length=3)] = None,
) -> dict[str, object]:
    context = current()
    assert context is not None
    log.info("item.read", item_id=item_id)
    logging.getLogger("uvicorn.error").info("stdlib line inside a request")
    return {
        "item_id": item_id,
        "correlation_id": context.correlation_id,
        "user_id": context.user_id,
        "user": user,
    }


@router.post("/items", status_code=201)
async def create_item(item: Item) -> Item:
    return item


@router.get("/baggage/{item_id}")
async def baggage(item_id: int) -> dict[str, str | None]:
    # What an outgoing request or a job message made here would carry.
    return {"baggage": sentry_sdk.get_baggage()}


@router.get("/boom")
async def boom(user: Annotated[str | None, Depends(authenticate)]) -> None:
    raise RuntimeError(SECRET_EXCEPTION_TEXT)


@router.get("/http-error/{status}")
async def http_error(status: int) -> None:
    raise HTTPException(status, detail="custom detail", headers={"X-Custom": "kept"})


@router.get("/app-error/{kind}")
async def app_error(kind: str) -> None:
    if kind == "unauthorized":
        raise Unauthorized("The token has expired.")
    if kind == "conflict":
        raise Conflict("An edge with this relation exists.", existing_id="e-1")
    if kind == "rate-limited":
        raise RateLimited(retry_after=30)
    if kind == "unavailable":
        raise ServiceUnavailable("The model is overloaded.", retry_after=12)
    if kind == "forbidden":
        raise Forbidden("Read-only token.")
    if kind == "too-large":
        raise PayloadTooLarge("The text exceeds 100000 characters.")
    if kind == "stale":
        raise PreconditionFailed()
    if kind == "timeout":
        raise UpstreamTimeout("The provider did not answer in 30 s.", retry_after=3)
    raise UpstreamError("The provider answered garbage.")


@router.get("/response-invalid", response_model=ItemOut)
async def response_invalid() -> dict[str, object]:
    return {"item_id": "not-an-int", "title": SECRET_EXCEPTION_TEXT}


@router.get("/stream-error")
async def stream_error() -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"first chunk\n"
        raise RuntimeError("stream broke")

    return StreamingResponse(chunks(), media_type="text/plain")


@router.get("/not-modified")
async def not_modified() -> None:
    raise HTTPException(304, headers={"ETag": '"v1"'})


@router.post("/echo-body")
async def echo_body(request: Request) -> dict[str, int]:
    return {"size": len(await request.body())}


@router.get("/context-from-state")
async def context_from_state(request: Request) -> dict[str, object]:
    context = request.scope["state"]["request_context"]
    return {"same": context is current(), "correlation_id": context.correlation_id}


class RaisingMiddleware:
    """A user middleware (inside ServerErrorMiddleware) that fails on some paths."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if path == "/test/mw-http":
            raise HTTPException(429, detail="Slow down", headers={"Retry-After": "7"})
        if path == "/test/mw-app":
            raise RateLimited("Too many requests from this client.", retry_after=9)
        if path == "/test/mw-unavailable":
            raise ServiceUnavailable("Maintenance window.", retry_after=60)
        if path == "/test/mw-crash":
            raise RuntimeError(SECRET_EXCEPTION_TEXT)
        await self.app(scope, receive, send)


def add_test_routes(app: FastAPI) -> FastAPI:
    app.include_router(router)
    app.add_middleware(RaisingMiddleware)
    return app

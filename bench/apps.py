"""The applications the benchmark compares (uvicorn factories).

Our app is configured by the environment exactly as in production (bench/run.py sets
SENTRY_DSN, SENTRY_TRACES_SAMPLE_RATE, ENVIRONMENT, ... per variant).
"""

from __future__ import annotations

import gc

from fastapi import FastAPI
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.core.config import Settings
from app.main import create_app

ITEM = {"id": 1, "title": "A node", "tags": ["a", "b"]}


class ItemIn(BaseModel):
    title: str
    count: int


def bare_fastapi() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def get_item(item_id: int) -> dict[str, object]:
        return {**ITEM, "id": item_id}

    @app.post("/items")
    async def create_item(item: ItemIn) -> dict[str, object]:
        return item.model_dump()

    gc.freeze()
    return app


def bare_starlette() -> Starlette:
    async def get_item(request: Request) -> JSONResponse:
        return JSONResponse({**ITEM, "id": int(request.path_params["item_id"])})

    app = Starlette(routes=[Route("/items/{item_id:int}", get_item)])
    gc.freeze()
    return app


def ours() -> FastAPI:
    """Our full stack (context, access log, problems, audit...) plus the same cheap routes."""
    app = create_app(Settings())

    @app.get("/items/{item_id}")
    async def get_item(item_id: int) -> dict[str, object]:
        return {**ITEM, "id": item_id}

    @app.post("/items")
    async def create_item(item: ItemIn) -> dict[str, object]:
        return item.model_dump()

    gc.freeze()
    return app

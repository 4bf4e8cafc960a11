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


def fastapi_with_our_routes() -> FastAPI:
    """FastAPI's defaults (no middleware, no handlers) with our API's routes after the same
    cheap ones: the baseline for our error responses, so routing through ~20 routes is on
    both sides of the ratio."""
    from app.routers import ai, edges, health, jobs, nodes, problems

    app = bare_fastapi()
    for router in (health, problems, nodes, edges, jobs, ai):
        app.include_router(router.router)
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

    # Matched first, like the baseline's only routes: routing through our ~20 routes is
    # the price of having an API, not of observing it (bench/RESULTS.md measures it).
    app.router.routes[:0] = [app.router.routes.pop(), app.router.routes.pop()]
    gc.freeze()
    return app


def peer_stack() -> FastAPI:
    """The usual library stack: asgi-correlation-id, fastapi-problem, a structlog JSON
    access line from a pure-ASGI middleware, sentry-sdk with its defaults (init from env)."""

    from asgi_correlation_id import CorrelationIdMiddleware
    from fastapi_problem.handler import add_exception_handler, new_exception_handler

    from bench.usual_app import AccessLog, configure_usual_stack

    configure_usual_stack()

    app = FastAPI()
    app.add_middleware(AccessLog)
    app.add_middleware(CorrelationIdMiddleware)
    add_exception_handler(app, new_exception_handler())

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/items/{item_id}")
    async def get_item(item_id: int) -> dict[str, object]:
        return {**ITEM, "id": item_id}

    gc.freeze()
    return app

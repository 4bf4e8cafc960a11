"""The applications the benchmark compares (uvicorn factories).

Our app is configured by the environment exactly as in production (bench/run.py sets
SENTRY_DSN, SENTRY_TRACES_SAMPLE_RATE, ENVIRONMENT, ... per variant).
"""

from __future__ import annotations

import gc
import os

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
    import logging
    import sys
    import time

    import sentry_sdk
    import structlog
    from asgi_correlation_id import CorrelationIdMiddleware, correlation_id
    from fastapi_problem.handler import add_exception_handler, new_exception_handler
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    if os.environ.get("SENTRY_DSN"):
        sentry_sdk.init(
            dsn=os.environ["SENTRY_DSN"],
            traces_sample_rate=float(os.environ.get("SENTRY_TRACES_SAMPLE_RATE", "0")),
        )
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    access = structlog.get_logger()

    class AccessLog:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await self.app(scope, receive, send)
                return
            started = time.perf_counter()
            status = 500

            async def send_status(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await self.app(scope, receive, send_status)
            finally:
                access.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 3),
                    correlation_id=correlation_id.get(),
                )

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

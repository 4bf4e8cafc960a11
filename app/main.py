"""Application factory: `create_app(settings)`; `app` is what uvicorn serves."""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
import structlog
from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.types import ASGIApp
from taskiq import InMemoryBroker

from app.core.config import Settings, SettingsError, load_settings
from app.core.db import create_engine, create_session_factory, migrate
from app.core.jwks import build_signing_keys
from app.core.logging import configure_logging
from app.core.middleware import REQUEST_ID_HEADER, RequestContextMiddleware
from app.core.sentry import flush_sentry, init_sentry
from app.core.sentry_http import TracedRoute, sentry_middleware
from app.errors.cors import ProblemCORSMiddleware
from app.errors.handlers import install_problem_handlers
from app.errors.openapi import add_problem_responses
from app.providers.chat import build_chat_provider
from app.routers import ai, edges, health, jobs, nodes, problems, tags
from app.routers.idempotency import REPLAYED_HEADER as IDEMPOTENT_REPLAYED_HEADER
from app.services.analysis import language_identifier
from app.services.idempotency import (
    PURGE_INTERVAL_SECONDS,
    purge_expired_keys,
    purge_expired_keys_forever,
)
from app.worker.broker import build_broker
from app.worker.execution import IN_PROCESS_JOBS, drain_in_process_jobs
from app.worker.queue import TaskiqJobQueue

log = structlog.get_logger(__name__)

JOB_DRAIN_SECONDS = 20.0


class GraphNodeAPI(FastAPI):
    """FastAPI with edge middleware *outside* Starlette's ServerErrorMiddleware.

    Starlette runs the 500 handler in ServerErrorMiddleware, outside every user middleware:
    there a context middleware's ContextVar is already reset and CORS headers are missing.
    Wrapping the whole stack instead gives unhandled 500s the request context, the
    `X-Request-ID` and CORS headers and the access-log line, like every other response.
    """

    edge_middleware: Sequence[Middleware] = ()

    def build_middleware_stack(self) -> ASGIApp:
        app = super().build_middleware_stack()
        for cls, args, kwargs in reversed(self.edge_middleware):
            app = cls(app, *args, **kwargs)
        return app

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            self.openapi_schema = add_problem_responses(super().openapi())
        return self.openapi_schema


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    app.state.engine = create_engine(
        settings.database_url, timeout_seconds=settings.database_timeout_seconds
    )
    app.state.session_factory = create_session_factory(app.state.engine)
    if settings.auto_migrate:
        await migrate(app.state.engine)
    # One pooled client for every outgoing call (connection reuse, one place for limits).
    app.state.http_client = httpx.AsyncClient(
        timeout=httpx.Timeout(settings.llm_timeout_seconds),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
    )
    app.state.chat_provider = build_chat_provider(settings, app.state.http_client)
    app.state.signing_keys = build_signing_keys(settings, app.state.http_client)
    # Load the language model off the event loop now rather than on the first request.
    asyncio.get_running_loop().run_in_executor(None, language_identifier)
    broker = app.state.broker
    # In-process broker: jobs run here, on this app's database. A real broker's workers
    # open their own (app/worker/main.py).
    broker.state.session_factory = app.state.session_factory
    if isinstance(broker, InMemoryBroker):
        setattr(broker.state, IN_PROCESS_JOBS, set())
    await broker.startup()
    app.state.job_queue = TaskiqJobQueue(broker, settings)
    # Once before serving (so start-up logs stay in order), then in the background.
    await purge_expired_keys(app.state.session_factory)
    purging = asyncio.create_task(
        purge_expired_keys_forever(
            app.state.session_factory, interval_seconds=PURGE_INTERVAL_SECONDS
        )
    )
    log.info(
        "app.started",
        environment=settings.environment.value,
        release=settings.release,
        sentry=app.state.sentry_enabled,
    )
    try:
        yield
    finally:
        purging.cancel()
        await asyncio.gather(purging, return_exceptions=True)
        if isinstance(broker, InMemoryBroker):
            # Let jobs running in this process finish (bounded) before the database closes.
            await drain_in_process_jobs(getattr(broker.state, IN_PROCESS_JOBS), JOB_DRAIN_SECONDS)
        await broker.shutdown()
        await app.state.http_client.aclose()
        await app.state.engine.dispose()
        log.info("app.stopped")
        flush_sentry()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application; settings come from the environment when None."""
    settings = settings or load_settings()
    configure_logging(settings)
    sentry_enabled = init_sentry(settings, component="api")

    app = GraphNodeAPI(
        title="GraphNode API",
        version=settings.release.partition("@")[2],
        summary="A per-user knowledge graph with AI helpers, observable end to end.",
        lifespan=lifespan,
        # FastAPI's native OpenTelemetry: we trace with Sentry. Left on, it asks the global
        # OpenTelemetry providers on every request whether one has been configured.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    # Routes added to the app itself (the routers set their own).
    app.router.route_class = TracedRoute
    app.state.settings = settings
    app.state.broker = build_broker(settings)
    app.state.sentry_enabled = sentry_enabled
    app.edge_middleware = [Middleware(RequestContextMiddleware)]
    if sentry_enabled:
        # Outermost, as the Starlette integration would put it: 500s and the access line
        # are inside the request's transaction.
        app.edge_middleware.insert(0, sentry_middleware())
    if settings.cors_origins:
        # Only when browsers on other origins may call us: otherwise it is per-request work
        # that adds nothing.
        app.edge_middleware.append(
            Middleware(
                ProblemCORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["*"],
                allow_headers=["*"],
                expose_headers=[
                    REQUEST_ID_HEADER,
                    "ETag",
                    "Location",
                    "Retry-After",
                    "Link",
                    IDEMPOTENT_REPLAYED_HEADER,
                ],
            )
        )
    install_problem_handlers(app)
    app.include_router(health.router)
    app.include_router(problems.router)
    app.include_router(nodes.router)
    app.include_router(edges.router)
    app.include_router(tags.router)
    app.include_router(jobs.router)
    app.include_router(ai.router)
    return app


def _app_from_environment() -> FastAPI:
    try:
        settings = load_settings()
    except SettingsError as exc:
        sys.exit(f"graphnode-api: {exc}")  # one clear line, no traceback
    application = create_app(settings)
    # Objects built so far live as long as the process: keep them out of full collections,
    # which otherwise set the p99 latency.
    gc.freeze()
    return application


def __getattr__(name: str) -> Any:
    # `app` is built on first access (by uvicorn), not at import: importing create_app in
    # tests or tools must not configure logging or Sentry from the environment.
    if name == "app":
        application = _app_from_environment()
        globals()["app"] = application
        return application
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

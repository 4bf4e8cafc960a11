"""Application factory: `create_app(settings)`; `app` is what uvicorn serves."""

from __future__ import annotations

import gc
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import httpx
import structlog
from fastapi import Depends, FastAPI
from starlette.middleware import Middleware
from taskiq import InMemoryBroker

from app.core.config import Settings, SettingsError, load_settings
from app.core.db import create_engine, create_session_factory, migrate, ping
from app.core.jwks import build_signing_keys
from app.core.logging import configure_logging
from app.core.middleware import RequestContextMiddleware
from app.core.sentry import flush_sentry, init_sentry
from app.core.spans import start_background_task, stop_background_task
from app.core.startup import STARTUP_FAILURE_EXIT_CODE, DependencyUnreachable, reach
from app.core.trace_context import add_traceparent
from app.http.application import GraphNodeAPI
from app.http.body_limit import ContentLengthLimitMiddleware
from app.http.cors import EXPOSED_HEADERS, ProblemCORSMiddleware
from app.http.docs import install_offline_docs
from app.http.head import HeadAsGetMiddleware
from app.http.negotiation import negotiate_json
from app.http.problems import install_problem_handlers
from app.http.rate_limit import CallerRateLimiter, RateLimitMiddleware
from app.providers.chat import build_chat_provider
from app.routers import ai, edges, health, jobs, nodes, problems, tags
from app.routers.deps import ReadinessChecks
from app.routers.idempotency import REPLAYED_HEADER as IDEMPOTENT_REPLAYED_HEADER
from app.services.idempotency import (
    PURGE_INTERVAL_SECONDS,
    purge_expired_keys,
    purge_expired_keys_forever,
)
from app.worker.broker import (
    BROKER_CONNECT_TIMEOUT_SECONDS,
    build_broker,
    ping_broker,
    probe_broker,
)
from app.worker.execution import IN_PROCESS_JOBS, drain_in_process_jobs
from app.worker.outbox import OutboxRelay
from app.worker.queue import TaskiqJobQueue

log = structlog.get_logger(__name__)

JOB_DRAIN_SECONDS = 20.0


async def _reach_dependencies(app: FastAPI, settings: Settings) -> None:
    """Connect to what start-up needs: the broker, and the database when it migrates.

    Without migrations the database is not needed to start: /readyz answers 503 until it
    is reachable.
    """
    if settings.auto_migrate:
        await reach(
            "DATABASE_URL",
            settings.database_url,
            ping(app.state.engine),
            timeout_seconds=settings.database_timeout_seconds,
        )
        await migrate(app.state.engine)
    broker = app.state.broker
    timeout = BROKER_CONNECT_TIMEOUT_SECONDS
    # Probed first: a broker's own start-up may retry for a while before it gives up.
    await reach(
        "BROKER_URL", settings.broker_url, probe_broker(broker, settings), timeout_seconds=timeout
    )
    await reach("BROKER_URL", settings.broker_url, broker.startup(), timeout_seconds=timeout)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    app.state.engine = create_engine(
        settings.database_url, timeout_seconds=settings.database_timeout_seconds
    )
    app.state.session_factory = create_session_factory(app.state.engine)
    broker = app.state.broker
    # In-process broker: jobs run here, on this app's database. A real broker's workers
    # open their own (app/worker/main.py).
    broker.state.session_factory = app.state.session_factory
    if isinstance(broker, InMemoryBroker):
        setattr(broker.state, IN_PROCESS_JOBS, set())
    try:
        await _reach_dependencies(app, settings)
    except DependencyUnreachable as failure:
        await app.state.engine.dispose()
        # The line uvicorn's lifespan failure would otherwise bury under a traceback.
        app.state.startup_failure = f"graphnode-api: {failure}"
        print(app.state.startup_failure, file=sys.stderr, flush=True)
        raise
    # One pooled client for every outgoing call (connection reuse, one place for limits).
    app.state.http_client = httpx.AsyncClient(
        timeout=httpx.Timeout(settings.llm_timeout_seconds),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        event_hooks={"request": [add_traceparent]},
    )
    app.state.chat_provider = build_chat_provider(settings, app.state.http_client)
    app.state.signing_keys = build_signing_keys(settings, app.state.http_client)
    app.state.job_queue = OutboxRelay(
        TaskiqJobQueue(broker, settings),
        app.state.session_factory,
        interval_seconds=settings.outbox_relay_interval_seconds,
    )
    # Its first pass sends what an earlier process committed but never sent.
    app.state.job_queue.start()
    app.state.readiness = ReadinessChecks(
        probes={
            "database": partial(ping, app.state.engine),
            "broker": partial(ping_broker, broker),
        },
        jobs_waiting=app.state.job_queue.waiting,
    )
    # Once before serving (so start-up logs stay in order), then in the background.
    await purge_expired_keys(app.state.session_factory)
    purging = start_background_task(
        purge_expired_keys_forever(
            app.state.session_factory, interval_seconds=PURGE_INTERVAL_SECONDS
        ),
        name="idempotency-purge",
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
        await stop_background_task(purging)
        await app.state.job_queue.stop()
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
        # Served from installed packages by install_offline_docs, not from a CDN.
        docs_url=None,
        redoc_url=None,
        # Counts a body as it is read (chunked included) and stops at the limit: a 413.
        max_body_size=settings.max_request_body_bytes,
    )
    app.state.settings = settings
    app.state.broker = build_broker(settings)
    app.state.sentry_enabled = sentry_enabled
    # Sentry's own middleware (the Starlette integration's) wraps all of these: 500s and
    # the access line are inside the request's transaction.
    app.edge_middleware = [Middleware(RequestContextMiddleware)]
    app.reads_w3c_trace_context = sentry_enabled
    if settings.cors_origins:
        # Only when browsers on other origins may call us: otherwise it is per-request work
        # that adds nothing.
        app.edge_middleware.append(
            Middleware(
                ProblemCORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["*"],
                allow_headers=["*"],
                expose_headers=[*EXPOSED_HEADERS, IDEMPOTENT_REPLAYED_HEADER],
            )
        )
    # At the edge, before routing and the body: a throttled caller or an oversized body
    # costs no more than its answer, which has the context, X-Request-ID and CORS headers.
    app.edge_middleware += [
        Middleware(
            RateLimitMiddleware,
            limiter=CallerRateLimiter(settings),
            settings=settings,
            state=app.state,
        ),
        Middleware(ContentLengthLimitMiddleware, max_bytes=settings.max_request_body_bytes),
    ]
    app.add_middleware(HeadAsGetMiddleware)
    install_problem_handlers(app)
    install_offline_docs(app)
    # /problems negotiates HTML for browsers itself; every other operation is JSON.
    app.include_router(problems.router)
    for router in (health.router, nodes.router, edges.router, tags.router, jobs.router, ai.router):
        app.include_router(router, dependencies=[Depends(negotiate_json)])
    return app


def _app_from_environment() -> FastAPI:
    try:
        settings = load_settings()
    except SettingsError as exc:
        # One clear line, no traceback; uvicorn's start-up failure status, so that its
        # supervisor (WEB_CONCURRENCY > 1) does not start the failing child again.
        print(f"graphnode-api: {exc}", file=sys.stderr, flush=True)
        sys.exit(STARTUP_FAILURE_EXIT_CODE)
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

"""The plain app (bench/plain_app.py) with the usual observability stack a team adds:
asgi-correlation-id, a structlog JSON access line (a pure-ASGI middleware) and sentry-sdk
with its defaults (its auto-enabled integrations) at SENTRY_TRACES_SAMPLE_RATE."""

from __future__ import annotations

import logging
import os
import sys
import time

import sentry_sdk
import structlog
from asgi_correlation_id import CorrelationIdMiddleware, correlation_id
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bench import plain_app


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = structlog.get_logger("access")

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
            self.log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
                correlation_id=correlation_id.get(),
            )


def configure_usual_stack() -> None:
    """sentry-sdk with its defaults (when SENTRY_DSN is set) and structlog's JSON lines."""
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


def create_app() -> FastAPI:
    configure_usual_stack()
    app = plain_app.create_app()
    app.add_middleware(AccessLog)
    app.add_middleware(CorrelationIdMiddleware)
    return app

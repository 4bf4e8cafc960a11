"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
from typing import Literal

import structlog
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from app.core.db import ping
from app.core.sentry_http import TracedRoute
from app.errors.exceptions import ServiceUnavailable
from app.errors.openapi import problem_responses
from app.worker.broker import ping_broker

router = APIRouter(route_class=TracedRoute, tags=["health"])
log = structlog.get_logger(__name__)

READINESS_TIMEOUT_SECONDS = 2.0
_RETRY_AFTER_SECONDS = 5


class Health(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ok",
                    "version": "graphnode-api@0.1.0+1a2b3c4",
                    "environment": "production",
                }
            ]
        }
    )

    status: Literal["ok"]
    version: str = Field(description="The release: graphnode-api@<version>+<git sha>.")
    environment: str


class Readiness(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"status": "ok", "checks": {"database": "ok", "broker": "ok"}}]
        }
    )

    status: Literal["ok"]
    checks: dict[str, Literal["ok", "unavailable"]]


@router.get(
    "/healthz",
    response_model=Health,
    summary="Liveness: the process is serving",
)
async def healthz(request: Request) -> Health:
    settings = request.app.state.settings
    return Health(status="ok", version=settings.release, environment=settings.environment)


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: every dependency is reachable",
    responses=problem_responses(503),
)
async def readyz(request: Request) -> Readiness:
    probes = {
        "database": ping(request.app.state.engine),
        "broker": ping_broker(request.app.state.broker),
    }
    checks: dict[str, Literal["ok", "unavailable"]] = {}
    for name, probe in probes.items():
        try:
            await asyncio.wait_for(probe, READINESS_TIMEOUT_SECONDS)
            checks[name] = "ok"
        except Exception as exc:  # any failure means "not ready", never a 500
            log.warning("readiness.check_failed", check=name, error_type=type(exc).__name__)
            checks[name] = "unavailable"
    if "unavailable" in checks.values():
        # Probes repeat every few seconds: the warning above is the signal, not an event.
        raise ServiceUnavailable(
            "A dependency is unreachable.",
            retry_after=_RETRY_AFTER_SECONDS,
            report=False,
            checks=checks,
        )
    return Readiness(status="ok", checks=checks)


# Probes often use HEAD; one operation per path in the schema is enough.
router.add_api_route("/healthz", healthz, methods=["HEAD"], include_in_schema=False)
router.add_api_route("/readyz", readyz, methods=["HEAD"], include_in_schema=False)

"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Literal

import structlog
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app.errors.exceptions import ServiceUnavailable
from app.http.openapi import problem_responses
from app.routers.deps import ReadinessDep, SettingsDep

router = APIRouter(tags=["health"])
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
            "examples": [
                {"status": "ok", "checks": {"database": "ok", "broker": "ok"}, "jobs_waiting": 0}
            ]
        }
    )

    status: Literal["ok"]
    checks: dict[str, Literal["ok", "unavailable"]]
    jobs_waiting: int | None = Field(
        description="Jobs stored but not yet accepted by the broker (the outbox relay sends "
        "them); null when the database cannot say."
    )


@router.get(
    "/healthz",
    response_model=Health,
    summary="Liveness: the process is serving",
)
async def healthz(settings: SettingsDep) -> Health:
    return Health(status="ok", version=settings.release, environment=settings.environment)


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: every dependency is reachable",
    responses=problem_responses(503),
)
async def readyz(readiness: ReadinessDep) -> Readiness:
    checks: dict[str, Literal["ok", "unavailable"]] = {}
    for name, probe in readiness.probes.items():
        try:
            await asyncio.wait_for(probe(), READINESS_TIMEOUT_SECONDS)
            checks[name] = "ok"
        except Exception as exc:  # any failure means "not ready", never a 500
            log.warning("readiness.check_failed", check=name, error_type=type(exc).__name__)
            checks[name] = "unavailable"
    jobs_waiting = None
    if checks["database"] == "ok":
        with contextlib.suppress(TimeoutError):
            jobs_waiting = await asyncio.wait_for(
                readiness.jobs_waiting(), READINESS_TIMEOUT_SECONDS
            )
    if "unavailable" in checks.values():
        # Probes repeat every few seconds: the warning above is the signal, not an event.
        raise ServiceUnavailable(
            "A dependency is unreachable.",
            retry_after=_RETRY_AFTER_SECONDS,
            report=False,
            checks=checks,
            jobs_waiting=jobs_waiting,
        )
    return Readiness(status="ok", checks=checks, jobs_waiting=jobs_waiting)

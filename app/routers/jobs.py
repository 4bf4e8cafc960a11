"""/v1/ai/jobs: long analyses run by the worker."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, Field

from app.core.sentry_http import TracedRoute
from app.errors.openapi import problem_responses
from app.models import Job
from app.routers.ai import NonBlank, check_text_size, refuse_oversized_bodies
from app.routers.idempotency import IdempotencyDep
from app.routers.deps import CurrentUser, SessionDep
from app.services.jobs import EXTRACT_GRAPH, job_service

router = APIRouter(
    route_class=TracedRoute, prefix="/v1/ai/jobs", tags=["ai"], responses=problem_responses(401)
)


class JobRequest(BaseModel):
    kind: Literal["extract-graph"] = Field(
        description="extract-graph: the text's concepts become nodes, co-occurrences edges."
    )
    text: NonBlank


class JobOut(BaseModel):
    id: uuid.UUID
    kind: str
    status: Literal["queued", "running", "succeeded", "failed"]
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    result: dict[str, Any] | None = Field(description="The result summary once succeeded.")
    problem: dict[str, Any] | None = Field(description="A Problem Details object once failed.")

    @classmethod
    def of(cls, job: Job) -> JobOut:
        return cls(
            id=job.id,
            kind=job.kind,
            status=job.status,  # type: ignore[arg-type]  # one of the four, by construction
            attempts=job.attempts,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            result=job.result,
            problem=job.problem,
        )


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobOut,
    summary="Start a job; follow its Location",
    responses=problem_responses(400, 409, 413, 422, 503),
    dependencies=[Depends(refuse_oversized_bodies)],
)
async def submit_job(
    data: JobRequest,
    request: Request,
    idempotency: IdempotencyDep,
    session: SessionDep,
    user_id: CurrentUser,
    response: Response,
) -> JobOut | Response:
    if idempotency.replay is not None:
        return idempotency.replay
    check_text_size(data.text, request.app.state.settings)
    job = await job_service.submit(
        session,
        owner_id=user_id,
        kind=EXTRACT_GRAPH,
        text=data.text,
        queue=request.app.state.job_queue,
    )
    response.headers["Location"] = f"/v1/ai/jobs/{job.id}"
    accepted = JobOut.of(job)
    await idempotency.record(session, status_code=202, body=accepted, response=response)
    return accepted


@router.get(
    "/{job_id}", response_model=JobOut, summary="A job's status", responses=problem_responses(404)
)
async def get_job(job_id: uuid.UUID, session: SessionDep, user_id: CurrentUser) -> JobOut:
    return JobOut.of(await job_service.get(session, owner_id=user_id, job_id=job_id))

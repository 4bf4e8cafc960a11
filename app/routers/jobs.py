"""/v1/ai/jobs: long analyses run by the worker."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from app.http.openapi import problem_responses
from app.routers.deps import (
    CurrentUser,
    JobQueueDep,
    PageDep,
    SessionDep,
    SettingsDep,
    reject_repeated_query_parameters,
)
from app.routers.idempotency import IdempotencyDep
from app.routers.pagination import link_next_page, paginated
from app.routers.text_limits import NonBlank, check_text_size, refuse_oversized_bodies
from app.schemas.graph import Page
from app.services.jobs import EXTRACT_GRAPH, job_service

router = APIRouter(prefix="/v1/ai/jobs", tags=["ai"], responses=problem_responses(401))


JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class JobRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "extract-graph",
                    "text": "Graph databases store nodes and edges. A knowledge graph links "
                    "concepts with typed relations.",
                }
            ]
        }
    )

    kind: Literal["extract-graph"] = Field(
        description="extract-graph: the text's concepts become nodes, co-occurrences edges."
    )
    text: NonBlank


class JobOut(BaseModel):
    # Validated from the stored job's attributes (no docstring: it would enter the schema).
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "5b1f0a0e-8c1e-4a57-9a3f-0d1c2b3a4f5e",
                    "kind": "extract-graph",
                    "status": "succeeded",
                    "attempts": 1,
                    "created_at": "2026-12-01T17:00:00Z",
                    "started_at": "2026-12-01T17:00:00.050000Z",
                    "finished_at": "2026-12-01T17:00:00.400000Z",
                    "result": {"nodes_created": 5, "edges_created": 8},
                    "problem": None,
                }
            ]
        },
    )

    id: uuid.UUID
    kind: str
    status: JobStatus
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    result: dict[str, Any] | None = Field(description="The result summary once succeeded.")
    problem: dict[str, Any] | None = Field(description="A Problem Details object once failed.")


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
    settings: SettingsDep,
    queue: JobQueueDep,
    idempotency: IdempotencyDep,
    session: SessionDep,
    user_id: CurrentUser,
    response: Response,
) -> JobOut | Response:
    if idempotency.replay is not None:
        return idempotency.replay
    check_text_size(data.text, settings)
    job = await job_service.submit(
        session,
        owner_id=user_id,
        kind=EXTRACT_GRAPH,
        text=data.text,
        queue=queue,
    )
    response.headers["Location"] = f"/v1/ai/jobs/{job.id}"
    accepted = JobOut.model_validate(job)
    await idempotency.record(session, status_code=202, body=accepted, response=response)
    return accepted


@router.get(
    "",
    response_model=Page[JobOut],
    summary="Your jobs, newest first",
    responses=paginated(),
    dependencies=[Depends(reject_repeated_query_parameters)],
)
async def list_jobs(
    request: Request,
    response: Response,
    session: SessionDep,
    user_id: CurrentUser,
    page: PageDep,
    status: Annotated[JobStatus | None, Query(description="Only jobs in this status.")] = None,
) -> Page[JobOut]:
    jobs, next_cursor = await job_service.list_jobs(
        session, owner_id=user_id, limit=page.limit, after=page.after, status=status
    )
    link_next_page(request, response, next_cursor)
    return Page[JobOut](items=[JobOut.model_validate(job) for job in jobs], next_cursor=next_cursor)


@router.get(
    "/{job_id}", response_model=JobOut, summary="A job's status", responses=problem_responses(404)
)
async def get_job(job_id: uuid.UUID, session: SessionDep, user_id: CurrentUser) -> JobOut:
    return JobOut.model_validate(await job_service.get(session, owner_id=user_id, job_id=job_id))


@router.delete(
    "/{job_id}",
    response_model=JobOut,
    summary="Cancel a queued job",
    description=(
        "A queued job becomes `cancelled` and never runs, even if its message already "
        "reached a worker. A running or finished job is a 409 `job-not-cancellable` problem."
    ),
    responses=problem_responses(404, 409),
)
async def cancel_job(job_id: uuid.UUID, session: SessionDep, user_id: CurrentUser) -> JobOut:
    return JobOut.model_validate(await job_service.cancel(session, owner_id=user_id, job_id=job_id))

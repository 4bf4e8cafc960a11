"""/v1/edges: create, read and delete the caller's edges."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Response, status

from app.http.openapi import problem_responses
from app.routers.deps import CurrentUser, IfMatch, SessionDep, reject_repeated_query_parameters
from app.routers.idempotency import IdempotencyDep
from app.schemas.graph import EdgeCreate, EdgeOut, EdgeUpdate
from app.services.edges import edge_service
from app.services.resources import etag

router = APIRouter(
    prefix="/v1/edges",
    tags=["edges"],
    responses=problem_responses(401),
    dependencies=[Depends(reject_repeated_query_parameters)],
)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=EdgeOut,
    summary="Connect two of your nodes",
    description=(
        "A `source_id` or `target_id` that is not one of your nodes is a 404 problem whose "
        "`errors` point at the member; the same source, target and relation twice is a 409."
    ),
    responses=problem_responses(400, 404, 409, 422),
)
async def create_edge(
    data: EdgeCreate,
    idempotency: IdempotencyDep,
    session: SessionDep,
    user_id: CurrentUser,
    response: Response,
) -> EdgeOut | Response:
    if idempotency.replay is not None:
        return idempotency.replay
    edge = await edge_service.create(session, owner_id=user_id, data=data)
    response.headers["Location"] = f"/v1/edges/{edge.id}"
    response.headers["ETag"] = etag(edge)
    created = EdgeOut.model_validate(edge)
    await idempotency.record(session, status_code=201, body=created, response=response)
    return created


@router.get(
    "/{edge_id}", response_model=EdgeOut, summary="Get an edge", responses=problem_responses(404)
)
async def get_edge(
    edge_id: uuid.UUID, session: SessionDep, user_id: CurrentUser, response: Response
) -> EdgeOut:
    edge = await edge_service.get(session, owner_id=user_id, edge_id=edge_id)
    response.headers["ETag"] = etag(edge)
    return EdgeOut.model_validate(edge)


@router.patch(
    "/{edge_id}",
    response_model=EdgeOut,
    summary="Change an edge's relation or weight",
    description=(
        "Send `If-Match` with the `ETag` of your last read to refuse a lost update (412). "
        "A relation that another edge between the same nodes has is a 409."
    ),
    responses=problem_responses(404, 409, 412),
)
async def update_edge(
    edge_id: uuid.UUID,
    changes: EdgeUpdate,
    session: SessionDep,
    user_id: CurrentUser,
    response: Response,
    if_match: IfMatch = None,
) -> EdgeOut:
    edge = await edge_service.update(
        session, owner_id=user_id, edge_id=edge_id, changes=changes, if_match=if_match
    )
    response.headers["ETag"] = etag(edge)
    return EdgeOut.model_validate(edge)


@router.delete(
    "/{edge_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an edge",
    responses=problem_responses(404),
)
async def delete_edge(edge_id: uuid.UUID, session: SessionDep, user_id: CurrentUser) -> Response:
    await edge_service.delete(session, owner_id=user_id, edge_id=edge_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

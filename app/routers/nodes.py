"""/v1/nodes: the caller's nodes, their edges and neighbours."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status

from app.http.openapi import problem_responses
from app.routers.deps import (
    CurrentUser,
    IfMatch,
    PageDep,
    SessionDep,
    reject_repeated_query_parameters,
)
from app.routers.idempotency import IdempotencyDep
from app.routers.pagination import link_next_page, paginated
from app.schemas.graph import (
    PAGE_DEFAULT,
    PAGE_MAX,
    SINGLE_LINE,
    EdgeOut,
    NeighbourOut,
    NodeCreate,
    NodeOut,
    NodeUpdate,
    Page,
    Tag,
)
from app.services.nodes import node_service
from app.services.resources import etag

router = APIRouter(
    prefix="/v1/nodes",
    tags=["nodes"],
    responses=problem_responses(401),
    dependencies=[Depends(reject_repeated_query_parameters)],
)


def _none_match_hits(header: str, tag: str) -> bool:
    """RFC 9110 If-None-Match: `*`, or any listed tag equal under weak comparison."""
    candidates = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in candidates or tag in candidates


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=NodeOut,
    summary="Create a node",
    responses=problem_responses(400, 409, 422),
)
async def create_node(
    data: NodeCreate,
    idempotency: IdempotencyDep,
    session: SessionDep,
    user_id: CurrentUser,
    response: Response,
) -> NodeOut | Response:
    if idempotency.replay is not None:
        return idempotency.replay
    node = await node_service.create(session, owner_id=user_id, data=data)
    response.headers["Location"] = f"/v1/nodes/{node.id}"
    response.headers["ETag"] = etag(node)
    created = NodeOut.model_validate(node)
    await idempotency.record(session, status_code=201, body=created, response=response)
    return created


@router.get(
    "",
    response_model=Page[NodeOut],
    summary="List nodes, newest first (with `q`: best first)",
    responses=paginated(),
)
async def list_nodes(
    request: Request,
    response: Response,
    session: SessionDep,
    user_id: CurrentUser,
    page: PageDep,
    tag: Annotated[Tag | None, Query(description="Only nodes with this tag.")] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            pattern=SINGLE_LINE,
            description=(
                "Full-text search: nodes whose title or body contains every word (case, "
                "accents and width folded; CJK words as substrings), best match first."
            ),
        ),
    ] = None,
) -> Page[NodeOut]:
    nodes, next_cursor = await node_service.list_nodes(
        session, owner_id=user_id, page=page, tag=tag, text=q
    )
    link_next_page(request, response, next_cursor)
    return Page[NodeOut](
        items=[NodeOut.model_validate(node) for node in nodes], next_cursor=next_cursor
    )


@router.get(
    "/{node_id}",
    response_model=NodeOut,
    summary="Get a node",
    responses={304: {"description": "Not modified (If-None-Match)"}, **problem_responses(404)},
)
async def get_node(
    node_id: uuid.UUID,
    session: SessionDep,
    user_id: CurrentUser,
    response: Response,
    if_none_match: Annotated[str | None, Header(max_length=1000)] = None,
) -> NodeOut | Response:
    node = await node_service.get(session, owner_id=user_id, node_id=node_id)
    tag = etag(node)
    if if_none_match is not None and _none_match_hits(if_none_match, tag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": tag})
    response.headers["ETag"] = tag
    return NodeOut.model_validate(node)


@router.patch(
    "/{node_id}",
    response_model=NodeOut,
    summary="Change a node's title, body or tags",
    responses=problem_responses(404, 412),
)
async def update_node(
    node_id: uuid.UUID,
    changes: NodeUpdate,
    session: SessionDep,
    user_id: CurrentUser,
    response: Response,
    if_match: IfMatch = None,
) -> NodeOut:
    node = await node_service.update(
        session, owner_id=user_id, node_id=node_id, changes=changes, if_match=if_match
    )
    response.headers["ETag"] = etag(node)
    return NodeOut.model_validate(node)


@router.delete(
    "/{node_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a node and its edges",
    responses=problem_responses(404, 412),
)
async def delete_node(
    node_id: uuid.UUID, session: SessionDep, user_id: CurrentUser, if_match: IfMatch = None
) -> Response:
    await node_service.delete(session, owner_id=user_id, node_id=node_id, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{node_id}/edges",
    response_model=Page[EdgeOut],
    summary="List a node's edges, newest first",
    responses={**problem_responses(404), **paginated()},
)
async def list_node_edges(
    node_id: uuid.UUID,
    request: Request,
    response: Response,
    session: SessionDep,
    user_id: CurrentUser,
    page: PageDep,
    direction: Annotated[Literal["out", "in", "both"], Query()] = "both",
) -> Page[EdgeOut]:
    edges, next_cursor = await node_service.list_edges(
        session, owner_id=user_id, node_id=node_id, direction=direction, page=page
    )
    link_next_page(request, response, next_cursor)
    return Page[EdgeOut](
        items=[EdgeOut.model_validate(edge) for edge in edges], next_cursor=next_cursor
    )


@router.get(
    "/{node_id}/neighbours",
    response_model=list[NeighbourOut],
    summary="The nodes connected to a node, strongest edges first",
    responses=problem_responses(404),
)
async def list_neighbours(
    node_id: uuid.UUID,
    session: SessionDep,
    user_id: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = PAGE_DEFAULT,
) -> list[NeighbourOut]:
    neighbours = await node_service.neighbours(
        session, owner_id=user_id, node_id=node_id, limit=limit
    )
    return [
        NeighbourOut(
            direction=item.direction,
            edge=EdgeOut.model_validate(item.edge),
            node=NodeOut.model_validate(item.node),
        )
        for item in neighbours
    ]

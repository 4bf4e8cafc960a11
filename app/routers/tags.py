"""/v1/tags: the caller's tags, each with how many of their nodes carry it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from app.http.openapi import problem_responses
from app.routers.deps import CurrentUser, SessionDep, reject_repeated_query_parameters
from app.routers.pagination import link_next_page, paginated
from app.schemas.graph import PAGE_MAX, Page, Tag, TagCount
from app.services.tags import tag_service

router = APIRouter(
    prefix="/v1/tags",
    tags=["tags"],
    responses=problem_responses(401),
    dependencies=[Depends(reject_repeated_query_parameters)],
)

TAGS_PAGE_DEFAULT = 100


@router.get(
    "",
    response_model=Page[TagCount],
    summary="Your tags with their node counts, in tag order",
    responses=paginated(),
)
async def list_tags(
    request: Request,
    response: Response,
    session: SessionDep,
    user_id: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX, description="Page size.")] = TAGS_PAGE_DEFAULT,
    cursor: Annotated[
        Tag | None, Query(description="`next_cursor` of the previous page (the last tag).")
    ] = None,
) -> Page[TagCount]:
    tags, next_cursor = await tag_service.list_tags(
        session, owner_id=user_id, limit=limit, after=cursor
    )
    link_next_page(request, response, next_cursor)
    return Page[TagCount](items=tags, next_cursor=next_cursor)

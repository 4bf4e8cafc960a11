"""Documentation of each problem type, served at the type's URI (`/problems/<slug>`)."""

from __future__ import annotations

import html

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict

from app.errors import catalog
from app.errors.exceptions import NotFound
from app.http.openapi import problem_responses

router = APIRouter(prefix="/problems", tags=["problems"])


class ProblemTypeDoc(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "/problems/not-found",
                    "slug": "not-found",
                    "title": "Resource not found",
                    "status": 404,
                    "description": "Nothing exists at this URI for the caller.",
                }
            ]
        }
    )

    type: str
    slug: str
    title: str
    status: int | None
    description: str


def _doc(problem_type: catalog.ProblemType) -> ProblemTypeDoc:
    return ProblemTypeDoc(
        type=problem_type.uri,
        slug=problem_type.slug,
        title=problem_type.title,
        status=problem_type.status,
        description=problem_type.description,
    )


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept.split(",")[0]


def _render_html(doc: ProblemTypeDoc) -> str:
    status = f"HTTP {doc.status}" if doc.status is not None else "any HTTP error status"
    paragraphs = "".join(
        f"<p>{html.escape(part)}</p>" for part in doc.description.split("\n\n") if part
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(doc.title)}</title></head><body>"
        f"<h1>{html.escape(doc.title)}</h1>"
        f"<p><code>type: {html.escape(doc.type)}</code> &middot; {html.escape(status)}</p>"
        f"{paragraphs}</body></html>"
    )


@router.get("", response_model=list[ProblemTypeDoc], summary="List every problem type")
async def list_problem_types() -> list[ProblemTypeDoc]:
    return [_doc(problem_type) for problem_type in catalog.all_types()]


@router.get(
    "/{slug}",
    response_model=ProblemTypeDoc,
    summary="Documentation of one problem type (HTML for browsers, JSON otherwise)",
    responses={
        200: {"content": {"text/html": {"schema": {"type": "string"}}}},
        **problem_responses(404),
    },
)
async def get_problem_type(slug: str, request: Request) -> ProblemTypeDoc | Response:
    problem_type = catalog.lookup(slug)
    if problem_type is None:
        raise NotFound("There is no problem type with this slug.")
    doc = _doc(problem_type)
    if _wants_html(request):
        return HTMLResponse(_render_html(doc))
    return doc

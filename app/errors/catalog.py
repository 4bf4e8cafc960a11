"""Registry of problem types: one entry per slug, documented at `/problems/<slug>`."""

from __future__ import annotations

import http
import inspect
from dataclasses import dataclass

PROBLEM_TYPE_PREFIX = "/problems/"


@dataclass(frozen=True, slots=True)
class ProblemType:
    slug: str
    title: str
    status: int | None
    description: str

    @property
    def uri(self) -> str:
        return f"{PROBLEM_TYPE_PREFIX}{self.slug}"

    def title_for(self, status: int) -> str:
        """The title of a problem of this type: a generic type's is the status phrase."""
        return self.title if self.status is not None else status_phrase(status)


def status_phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


_by_slug: dict[str, ProblemType] = {}


def register(slug: str, *, title: str, status: int | None, doc: str | None) -> ProblemType:
    if slug in _by_slug:
        raise ValueError(f"problem type {slug!r} is already registered")
    problem_type = ProblemType(
        slug=slug, title=title, status=status, description=inspect.cleandoc(doc or title)
    )
    _by_slug[slug] = problem_type
    return problem_type


def lookup(slug: str) -> ProblemType | None:
    return _by_slug.get(slug)


def all_types() -> list[ProblemType]:
    return sorted(_by_slug.values(), key=lambda item: (item.status or 0, item.slug))


HTTP_ERROR = register(
    "http-error",
    title="HTTP error",
    status=None,
    doc="""A generic HTTP error without a more specific type; `status` and `title` say which
    one it is, and `detail` explains this occurrence.""",
)

"""What the node and edge services share: a resource read for an operation, and its ETag.

`existing(...)` is the one "get-or-404 plus If-Match" of the graph: a missing resource is
a 404 (a resource of another owner is missing too), a stale `If-Match` a 412.
"""

from __future__ import annotations

from typing import TypeVar

from app.errors.exceptions import NotFound, PreconditionFailed
from app.models import Edge, Node

Resource = TypeVar("Resource", Node, Edge)


def etag(resource: Node | Edge) -> str:
    return f'"{resource.id.hex}.{resource.version}"'


def not_found(what: str) -> NotFound:
    return NotFound(f"There is no {what} with this id.")


def changed_concurrently(what: str) -> PreconditionFailed:
    # Another transaction updated or deleted the row between our read and our write (the
    # version column caught it). Fetching it again tells the client which.
    return PreconditionFailed(f"The {what} was changed concurrently; fetch it again.")


def existing(resource: Resource | None, what: str, *, if_match: str | None = None) -> Resource:
    """`resource` as read for an operation: NotFound when there is none, PreconditionFailed
    when `if_match` (RFC 9110 If-Match, strong comparison: `*` or a list of entity tags)
    names none of its current tag."""
    if resource is None:
        raise not_found(what)
    if if_match is None or if_match.strip() == "*":
        return resource
    if etag(resource) not in {tag.strip() for tag in if_match.split(",")}:
        raise PreconditionFailed(
            f"The {what} changed since you read it: fetch it again and retry with its ETag."
        )
    return resource

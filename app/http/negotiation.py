"""Media types of JSON operations: 415 for a body that is not JSON, 406 for an `Accept`
that admits no JSON (RFC 9110 §15.5.16, §15.5.7, §12.5.1)."""

from __future__ import annotations

from fastapi import Request
from fastapi.routing import APIRoute

from app.errors.exceptions import NotAcceptable, UnsupportedMediaType

JSON = "application/json"
PROBLEM_JSON = "application/problem+json"
# RFC 5789 §3.1 and the Linked Data Platform's Accept-Post: what the operation reads.
_ACCEPT_FIELDS = {"POST": "Accept-Post", "PATCH": "Accept-Patch"}


def is_json_media_type(content_type: str | None) -> bool:
    """`application/json` or `application/<anything>+json`, parameters ignored."""
    if content_type is None:
        return False
    media = content_type.partition(";")[0].strip().lower()
    maintype, _, subtype = media.partition("/")
    return maintype == "application" and (subtype == "json" or subtype.endswith("+json"))


def _media_ranges(accept: str) -> list[tuple[str, float]]:
    ranges = []
    for member in accept.split(","):
        media, *parameters = member.split(";")
        media = media.strip().lower()
        if not media:
            continue
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0
        ranges.append((media, quality))
    return ranges


def _quality(ranges: list[tuple[str, float]], media_type: str) -> float:
    """The weight `Accept` gives `media_type`: the most specific matching range decides."""
    wildcard = media_type.partition("/")[0] + "/*"
    best_specificity, quality = -1, 0.0
    for media, weight in ranges:
        specificity = {media_type: 2, wildcard: 1, "*/*": 0}.get(media, -1)
        if specificity > best_specificity:
            best_specificity, quality = specificity, weight
    return quality


def accepts_json(accept: str) -> bool:
    """Whether an `Accept` value admits `application/json` or `application/problem+json`.
    An empty one admits anything, as a missing one does."""
    ranges = _media_ranges(accept)
    if not ranges:
        return True
    return any(_quality(ranges, media_type) > 0 for media_type in (JSON, PROBLEM_JSON))


async def negotiate_json(request: Request) -> None:
    """Dependency for JSON operations: refuse what they cannot read or answer with."""
    route = request.scope.get("route")
    if isinstance(route, APIRoute) and route.body_field is not None:
        # FastAPI has read the (size-limited) body already; this reads its cached copy.
        content_type = request.headers.get("content-type")
        if await request.body() and not is_json_media_type(content_type):
            accept_field = _ACCEPT_FIELDS.get(request.method)
            raise UnsupportedMediaType(
                "The request body must be JSON (Content-Type: application/json).",
                headers={accept_field: JSON} if accept_field else None,
            )
    accept = request.headers.get("accept")
    if accept is not None and not accepts_json(accept):
        raise NotAcceptable(
            "This operation answers with application/json (application/problem+json for "
            "problems); the Accept header admits neither."
        )

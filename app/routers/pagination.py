"""RFC 8288 `Link: <…>; rel="next"` on every cursor-paginated list."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

# `responses=` member for a 200 list response: documents the header in OpenAPI.
LINK_HEADER: dict[str, Any] = {
    "Link": {
        "description": (
            'RFC 8288 `<…>; rel="next"`: the next page, with the same filters, as a URL '
            "relative to this request's; absent on the last page."
        ),
        "schema": {"type": "string"},
    }
}


def paginated(status: int = 200) -> dict[int | str, dict[str, Any]]:
    return {status: {"headers": LINK_HEADER}}


def link_next_page(request: Request, response: Response, next_cursor: str | None) -> None:
    """Point at the page after this one: this request's URL with `cursor` replaced.

    The target is a relative reference (path and query), so it is right behind any proxy
    without trusting a `Host` header.
    """
    if next_cursor is None:
        return
    url = request.url.include_query_params(cursor=next_cursor)
    response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'

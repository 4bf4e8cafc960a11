"""Tags and relations: the schema's pattern and the server accept the same labels."""

from __future__ import annotations

import re

import pytest
from httpx import AsyncClient

from app.schemas.graph import RELATION_PATTERN, TAG_PATTERN
from tests.conftest import auth

ALICE = auth("alice")


@pytest.mark.parametrize("tag", ["math", "Uö", "센트리", "σίσυφος", "c++", "v1.2/x#y", "_x"])
async def test_tags_in_any_script_are_accepted(graph_client: AsyncClient, tag: str) -> None:
    response = await graph_client.post(
        "/v1/nodes", json={"title": "t", "tags": [tag]}, headers=ALICE
    )

    assert response.status_code == 201
    assert response.json()["tags"] == [tag]
    # ECMA-262 reads these patterns as the server does: no `\w` to differ on.
    assert re.fullmatch(TAG_PATTERN, tag, flags=re.ASCII)


@pytest.mark.parametrize("tag", ["-x", "a,b", "a;b", "(a)", "a!", "a\tb", "   ", " a", "a "])
async def test_ascii_punctuation_and_control_characters_are_refused(
    graph_client: AsyncClient, tag: str
) -> None:
    response = await graph_client.post(
        "/v1/nodes", json={"title": "t", "tags": [tag]}, headers=ALICE
    )

    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["pointer"] == "#/tags/0"
    assert error["detail"].startswith("A tag starts with a letter, a digit or _")


def test_the_published_patterns_use_no_unicode_dependent_classes() -> None:
    for pattern in (TAG_PATTERN, RELATION_PATTERN):
        assert "\\w" not in pattern
        assert "\\W" not in pattern

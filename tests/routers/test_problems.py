from __future__ import annotations

import pytest
from httpx import AsyncClient

from app.errors import catalog
from app.errors.exceptions import AppError


def _all_app_errors() -> list[type[AppError]]:
    found: list[type[AppError]] = []
    pending = list(AppError.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if "problem_type" in cls.__dict__:
            found.append(cls)
    return found


async def test_every_declared_problem_type_is_documented_at_its_uri(client: AsyncClient) -> None:
    declared = _all_app_errors()
    assert len(declared) >= 12

    for cls in declared:
        response = await client.get(cls.problem_type.uri)
        assert response.status_code == 200, cls
        doc = response.json()
        assert doc["type"] == cls.problem_type.uri
        assert doc["status"] == cls.status_code
        assert doc["title"] == cls.problem_type.title
        assert len(doc["description"]) > 20


async def test_problem_docs_are_html_for_browsers(client: AsyncClient) -> None:
    response = await client.get(
        "/problems/precondition-failed",
        headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"},
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Precondition failed</h1>" in response.text
    assert "If-Match" in response.text


async def test_problem_list_includes_the_generic_type(client: AsyncClient) -> None:
    response = await client.get("/problems")

    slugs = {doc["slug"] for doc in response.json()}
    assert {"not-found", "validation-error", "internal-error", "http-error"} <= slugs


@pytest.mark.parametrize("slug", ["nope", "..%2F..%2Fetc", "<script>"])
async def test_unknown_problem_type_is_a_404_problem(client: AsyncClient, slug: str) -> None:
    response = await client.get(f"/problems/{slug}")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "<script>" not in response.json()["detail"]


def test_problem_types_cannot_be_declared_twice() -> None:
    with pytest.raises(ValueError, match="already registered"):
        catalog.register("not-found", title="Again", status=404, doc=None)

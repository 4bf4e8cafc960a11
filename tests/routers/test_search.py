"""GET /v1/nodes?q=: full-text search in the engine, the same answers on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tests.conftest import auth

ALICE = auth("alice")

# One multilingual set: each query must find exactly these titles, on both engines.
NODES: list[dict[str, Any]] = [
    {
        "title": "ΣΊΣΥΦΟΣ",
        "body": "Ο βασιλιάς της Κορίνθου, τιμωρημένος στα Τάρταρα.",
        "tags": ["el"],
    },
    {
        "title": "Straße der Pariser Kommune",
        "body": "Eine Straße in Berlin-Friedrichshain.",
        "tags": ["de"],
    },
    {"title": "Café Müller", "body": "Ein Tanztheaterstück von Pina Bausch.", "tags": ["de"]},
    {
        "title": "ＦＵＬＬ－ＷＩＤＴＨ Ｆｏｒｍｓ",
        "body": "Ｗｉｄｅ letters from East Asian typography.",
        "tags": ["en"],
    },
    {
        "title": "센트리",
        "body": "센트리는 애플리케이션의 오류를 추적하는 도구입니다.",
        "tags": ["ko"],
    },
    {"title": "東京都", "body": "東京都は日本の首都です。", "tags": ["ja"]},
    {"title": "欧拉", "body": "莱昂哈德·欧拉是瑞士数学家。", "tags": ["zh"]},
    {
        "title": "Graph databases",
        "body": "Databases store nodes and the edges between them.",
        "tags": ["en"],
    },
]

CASES = [
    ("σίσυφος", {"ΣΊΣΥΦΟΣ"}),  # case and accents, final sigma
    ("ΣΙΣΥΦΟΣ", {"ΣΊΣΥΦΟΣ"}),
    ("σισυφος", {"ΣΊΣΥΦΟΣ"}),  # written with a final ς, stored with σ
    ("ταρταρα", {"ΣΊΣΥΦΟΣ"}),
    ("strasse", {"Straße der Pariser Kommune"}),  # ß is ss
    ("STRASSE berlin", {"Straße der Pariser Kommune"}),
    ("straße", {"Straße der Pariser Kommune"}),
    ("cafe muller", {"Café Müller"}),
    ("CAFÉ", {"Café Müller"}),
    ("full width", {"ＦＵＬＬ－ＷＩＤＴＨ Ｆｏｒｍｓ"}),  # full-width forms (NFKC)
    ("ｗｉｄｅ", {"ＦＵＬＬ－ＷＩＤＴＨ Ｆｏｒｍｓ"}),
    ("센트리가", {"센트리"}),  # another particle than the stored one
    ("센트리", {"센트리"}),
    ("오류를", {"센트리"}),
    ("東京", {"東京都"}),
    ("首都", {"東京都"}),
    ("京", {"東京都"}),  # one character: a prefix of the bigrams
    ("数学家", {"欧拉"}),
    ("瑞士", {"欧拉"}),
    ("database", {"Graph databases"}),  # a word's prefix
    ("graph NODES", {"Graph databases"}),
    ("graph tokyo", set()),  # every word must match
    ("κορινθος", set()),  # the stored word is κορινθου: prefixes, not stems
    ("berlin", {"Straße der Pariser Kommune"}),
]


async def _seed(client: AsyncClient) -> dict[str, str]:
    ids = {}
    for node in NODES:
        response = await client.post("/v1/nodes", json=node, headers=ALICE)
        assert response.status_code == 201, response.text
        ids[node["title"]] = response.json()["id"]
    return ids


async def _titles(client: AsyncClient, query: str, **params: Any) -> set[str]:
    response = await client.get("/v1/nodes", params={"q": query, **params}, headers=ALICE)
    assert response.status_code == 200, response.text
    return {item["title"] for item in response.json()["items"]}


async def test_multilingual_queries_find_the_same_nodes_on_both_engines(
    graph_client: AsyncClient,
) -> None:
    await _seed(graph_client)
    found = {query: await _titles(graph_client, query) for query, _ in CASES}
    assert found == dict(CASES)


async def test_the_index_follows_updates_and_deletes(graph_client: AsyncClient) -> None:
    ids = await _seed(graph_client)
    node_id = ids["Café Müller"]

    changed = await graph_client.patch(
        f"/v1/nodes/{node_id}", json={"title": "Kontakthof", "body": "Wuppertal"}, headers=ALICE
    )
    assert changed.status_code == 200
    assert await _titles(graph_client, "muller") == set()
    assert await _titles(graph_client, "wuppertal kontakthof") == {"Kontakthof"}

    deleted = await graph_client.delete(f"/v1/nodes/{node_id}", headers=ALICE)
    assert deleted.status_code == 204
    assert await _titles(graph_client, "kontakthof") == set()


async def test_search_is_filtered_by_tag_and_owner(graph_client: AsyncClient) -> None:
    await _seed(graph_client)
    await graph_client.post(
        "/v1/nodes", json={"title": "Graph theory", "tags": ["math"]}, headers=auth("bob")
    )
    assert await _titles(graph_client, "graph") == {"Graph databases"}
    assert await _titles(graph_client, "strasse", tag="de") == {"Straße der Pariser Kommune"}
    assert await _titles(graph_client, "strasse", tag="en") == set()


async def test_results_are_ranked_and_keyset_paginated_by_rank(graph_client: AsyncClient) -> None:
    # The title weighs more than the body; more occurrences more than fewer.
    await graph_client.post(
        "/v1/nodes", json={"title": "Sentry", "body": "Error tracking."}, headers=ALICE
    )
    for number in range(7):
        body = f"Note {number} mentions sentry" + " and sentry again" * (number % 3)
        await graph_client.post(
            "/v1/nodes", json={"title": f"Note {number}", "body": body}, headers=ALICE
        )
    everything = await graph_client.get(
        "/v1/nodes", params={"q": "sentry", "limit": 100}, headers=ALICE
    )
    ranked = [item["title"] for item in everything.json()["items"]]
    assert ranked[0] == "Sentry"
    assert len(ranked) == 8

    paged: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"q": "sentry", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = await graph_client.get("/v1/nodes", params=params, headers=ALICE)
        assert page.status_code == 200
        paged += [item["title"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert paged == ranked


@pytest.mark.parametrize(
    "params",
    [
        {"q": "sentry", "cursor": f"1700000000000000-{'0' * 32}"},
        {"cursor": f"1000000-{'f' * 32}"},
        {"q": "sentry", "cursor": f"99999999999999999-{'f' * 32}"},
    ],
)
async def test_every_cursor_of_the_pattern_is_a_position_in_search_and_listing(
    client: AsyncClient, params: dict[str, str]
) -> None:
    response = await client.get("/v1/nodes", params=params, headers=ALICE)
    assert response.status_code == 200


async def test_a_query_without_words_finds_nothing(graph_client: AsyncClient) -> None:
    await _seed(graph_client)
    response = await graph_client.get("/v1/nodes", params={"q": "!!! ..."}, headers=ALICE)
    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}

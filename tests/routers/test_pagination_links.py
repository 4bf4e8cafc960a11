from __future__ import annotations

import re

from httpx import AsyncClient

from tests.conftest import auth

ALICE = auth("alice")
_LINK = re.compile(r'^<(?P<target>[^>]+)>; rel="next"$')


async def test_node_lists_link_to_the_next_page_with_their_filters(
    graph_client: AsyncClient,
) -> None:
    for index in range(5):
        await graph_client.post(
            "/v1/nodes", json={"title": f"Graph {index}", "tags": ["math"]}, headers=ALICE
        )
    await graph_client.post("/v1/nodes", json={"title": "Other"}, headers=ALICE)

    titles: list[str] = []
    url: str | None = "/v1/nodes?tag=math&q=graph&limit=2"
    pages = 0
    while url is not None:
        response = await graph_client.get(url, headers=ALICE)
        page = response.json()
        titles += [node["title"] for node in page["items"]]
        pages += 1
        link = response.headers.get("link")
        if page["next_cursor"] is None:
            assert link is None
            url = None
        else:
            match = _LINK.match(link or "")
            assert match is not None, link
            url = match["target"]
            assert url.startswith("/v1/nodes?")
            assert "tag=math" in url
            assert "q=graph" in url
            assert "limit=2" in url

    # With `q` the order is the ranking (equal here): every match once, across the pages.
    assert sorted(titles) == [f"Graph {index}" for index in range(5)]
    assert pages == 3


async def test_node_edge_lists_link_to_the_next_page(graph_client: AsyncClient) -> None:
    hub = (await graph_client.post("/v1/nodes", json={"title": "Hub"}, headers=ALICE)).json()
    for index in range(3):
        spoke = (
            await graph_client.post("/v1/nodes", json={"title": f"S{index}"}, headers=ALICE)
        ).json()
        await graph_client.post(
            "/v1/edges",
            json={"source_id": hub["id"], "target_id": spoke["id"], "relation": "r"},
            headers=ALICE,
        )

    first = await graph_client.get(
        f"/v1/nodes/{hub['id']}/edges?direction=out&limit=2", headers=ALICE
    )
    match = _LINK.match(first.headers["link"])
    assert match is not None
    second = await graph_client.get(match["target"], headers=ALICE)

    assert "direction=out" in match["target"]
    assert len(first.json()["items"]) == 2
    assert len(second.json()["items"]) == 1
    assert "link" not in second.headers

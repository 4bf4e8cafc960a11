"""POST /v1/ai/chat with the local provider: retrieval through the index that answers, or
says it cannot, on both engines."""

from __future__ import annotations

from httpx import AsyncClient

from tests.conftest import auth

ALICE = auth("alice")


async def _node(client: AsyncClient, title: str, body: str = "") -> str:
    response = await client.post("/v1/nodes", json={"title": title, "body": body}, headers=ALICE)
    assert response.status_code == 201
    node_id: str = response.json()["id"]
    return node_id


async def _chat(client: AsyncClient, message: str) -> dict[str, object]:
    response = await client.post("/v1/ai/chat", json={"message": message}, headers=ALICE)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_stop_words_alone_match_nothing_and_the_reply_says_so(
    graph_client: AsyncClient,
) -> None:
    await _node(graph_client, "The Beatles", "The band from Liverpool is the best of the sixties.")
    await _node(graph_client, "Euler", "Leonhard Euler was born in Basel and lived in Berlin.")

    reply = await _chat(graph_client, "What is the capital of France?")

    assert reply["node_ids"] == []
    assert "nothing" in str(reply["answer"])


async def test_a_question_cites_only_the_nodes_it_is_about(graph_client: AsyncClient) -> None:
    euler = await _node(
        graph_client, "Leonhard Euler", "Euler lived in Basel, Saint Petersburg and Berlin."
    )
    for title in ("Graph databases", "Relational databases", "Nodes and edges"):
        await _node(graph_client, title, f"{title} and tables and rows and queries.")

    reply = await _chat(graph_client, "When did Euler live and where?")

    assert reply["node_ids"] == [euler]
    assert "Euler lived in Basel" in str(reply["answer"])


async def test_korean_particles_do_not_stop_a_match(graph_client: AsyncClient) -> None:
    sentry = await _node(
        graph_client, "센트리는 오류 추적 도구", "센트리는 애플리케이션의 오류를 추적합니다."
    )
    await _node(graph_client, "그래프", "그래프는 노드와 간선으로 이루어집니다.")

    for question in ("센트리가 뭐예요?", "센트리를 어떻게 써요?", "센트리의 오류 추적"):
        assert (await _chat(graph_client, question))["node_ids"] == [sentry], question


async def test_japanese_and_chinese_questions_find_their_nodes(graph_client: AsyncClient) -> None:
    tokyo = await _node(graph_client, "東京都", "東京都は日本の首都です。人口は約千四百万人です。")
    euler = await _node(graph_client, "欧拉", "莱昂哈德·欧拉是瑞士数学家。")

    assert (await _chat(graph_client, "東京の人口はどのくらいですか？"))["node_ids"] == [tokyo]
    assert (await _chat(graph_client, "欧拉是哪国的数学家？"))["node_ids"] == [euler]
    assert (await _chat(graph_client, "大阪の天気は？"))["node_ids"] == []


async def test_citations_come_in_order_of_relevance(graph_client: AsyncClient) -> None:
    # Four of the question's five words, then one of five (too little to cite).
    partial = await _node(graph_client, "Sentry releases", "Releases link errors to versions.")
    await _node(graph_client, "Sentry pricing", "Plans for error monitoring teams.")
    best = await _node(
        graph_client, "Release commits", "Sentry releases link errors to the commits of a deploy."
    )

    reply = await _chat(graph_client, "How do Sentry releases link errors to commits?")

    assert reply["node_ids"] == [best, partial]
    answer = str(reply["answer"])
    assert answer.index("[1]") < answer.index("[2]")
    assert "Release commits: Sentry releases link errors" in answer

from __future__ import annotations

import email.utils
import time
from typing import Any

import pytest
import sentry_sdk
from httpx import AsyncClient

from tests.conftest import ClientFactory, LogReader, auth
from tests.core.test_sentry import sentry_on
from tests.local_http import FakeLLM, SentryIngest

ALICE = auth("alice")
BOB = auth("bob")
API_KEY = "sk-test-key-0123456789"

ENGLISH = (
    "Graph databases store nodes and edges. A knowledge graph links concepts with typed "
    "relations. Graph databases answer relationship queries quickly. Knowledge graph "
    "queries traverse edges between nodes."
)
KOREAN = (
    "그래프 데이터베이스는 노드와 엣지를 저장합니다. 지식 그래프는 개념을 관계로 연결합니다. "
    "그래프 데이터베이스는 관계 질의에 빠르게 답합니다."
)
GERMAN = (
    "Die Wissensgraphen verbinden Begriffe miteinander. Jeder Knoten hat einen Titel und "
    "einen Text. Die Kanten beschreiben die Beziehungen zwischen den Knoten."
)


def llm_settings(fake_llm: FakeLLM, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "llm_provider": "openai",
        "llm_base_url": fake_llm.base_url,
        "llm_api_key": API_KEY,
        "llm_model": "test-model",
        "llm_timeout_seconds": 0.5,
        "llm_max_retries": 0,
    }
    values.update(overrides)
    return values


async def test_ai_info_describes_the_surface(client: AsyncClient) -> None:
    response = await client.get("/v1/ai")

    assert response.json() == {
        "operations": ["lightweight-analyze", "chat"],
        "chat_provider": "local",
        "chat_model": None,
        "limits": {"max_text_chars": 50_000},
    }


async def test_analyze_english_text(client: AsyncClient) -> None:
    response = await client.post(
        "/v1/ai/lightweight-analyze", json={"text": ENGLISH}, headers=ALICE
    )

    assert response.status_code == 200
    body = response.json()
    assert body["language"] == "en"
    assert body["language_confidence"] > 0.9
    assert body["counts"] == {"characters": len(ENGLISH), "words": 27, "sentences": 4}
    assert body["reading_time_seconds"] == 8  # 27 words at 230 words per minute
    keywords = [term["text"].lower() for term in body["keywords"]]
    assert {"graph", "databases"} & set(keywords[:3])
    phrases = [term["text"].lower() for term in body["key_phrases"]]
    assert "graph databases" in phrases or "knowledge graph" in phrases
    assert all(" " in phrase for phrase in phrases)
    relevances = [term["relevance"] for term in body["keywords"]]
    assert relevances == sorted(relevances, reverse=True)
    assert all(0 < r <= 1 for r in relevances)


@pytest.mark.parametrize(
    ("text", "language", "keyword"), [(KOREAN, "ko", "그래프"), (GERMAN, "de", "knoten")]
)
async def test_analyze_non_english_text(
    client: AsyncClient, text: str, language: str, keyword: str
) -> None:
    response = await client.post("/v1/ai/lightweight-analyze", json={"text": text}, headers=ALICE)

    body = response.json()
    assert body["language"] == language
    assert body["counts"]["sentences"] == 3
    assert keyword in [term["text"].lower() for term in body["keywords"]]


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("東京都は日本の首都です。東京都の人口は約千四百万人です。", "東京都"),
        ("莱昂哈德·欧拉是瑞士数学家。欧拉研究了图论。", "欧拉"),
    ],
)
async def test_chinese_and_japanese_keywords_are_words_not_sentences(
    client: AsyncClient, text: str, keyword: str
) -> None:
    response = await client.post("/v1/ai/lightweight-analyze", json={"text": text}, headers=ALICE)

    body = response.json()
    keywords = [term["text"] for term in body["keywords"]]
    assert keywords[0] == keyword  # the most frequent word
    assert all(len(word) <= 6 and word in text for word in keywords)
    assert body["counts"]["sentences"] == 2


LITHUANIAN = (
    "Grafų duomenų bazės saugo mazgus ir ryšius. Čia nėra lentelių, todėl užklausos "
    "keliauja ryšiais. Aš turėjo mažiau laiko, bet žinių grafas jungia sąvokas."
)
SLOVAK = (
    "Grafové databázy ukladajú uzly a hrany. Avšak každý uzol môže mať vlastnosti, "
    "ktorý graf znalostí prepája pojmy. Keď hľadáme súvislosti, grafy pomáhajú."
)


@pytest.mark.parametrize(
    ("text", "language", "stopword"), [(LITHUANIAN, "lt", "nėra"), (SLOVAK, "sk", "avšak")]
)
async def test_analysis_prints_nothing_and_reads_every_stopword_list(
    client: AsyncClient,
    capsys: pytest.CaptureFixture[str],
    text: str,
    language: str,
    stopword: str,
) -> None:
    # YAKE reads these two lists as ISO-8859-1, printing a warning (not a JSON line) and
    # missing their accented stop words.
    response = await client.post("/v1/ai/lightweight-analyze", json={"text": text}, headers=ALICE)

    assert response.status_code == 200
    assert response.json()["language"] == language
    keywords = [term["text"].lower() for term in response.json()["keywords"]]
    assert keywords
    assert stopword not in keywords
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("text", ["", "   \n\t"])
async def test_empty_text_is_a_422(client: AsyncClient, text: str) -> None:
    response = await client.post("/v1/ai/lightweight-analyze", json={"text": text}, headers=ALICE)

    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "#/text"


async def test_oversized_text_is_a_413(client_factory: ClientFactory) -> None:
    client = await client_factory(ai_max_text_chars=1000)

    just_over = await client.post(
        "/v1/ai/lightweight-analyze", json={"text": "a" * 1001}, headers=ALICE
    )
    huge_body = await client.post("/v1/ai/chat", json={"message": "b" * 10_000}, headers=ALICE)

    for response in (just_over, huge_body):
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == "/problems/payload-too-large"
        assert response.json()["max_text_chars"] == 1000


async def test_ai_routes_need_a_token(client: AsyncClient) -> None:
    for path, body in (
        ("/v1/ai/lightweight-analyze", {"text": "x"}),
        ("/v1/ai/chat", {"message": "x"}),
    ):
        assert (await client.post(path, json=body)).status_code == 401


async def test_local_chat_cites_only_the_callers_nodes(client: AsyncClient) -> None:
    mine = (
        await client.post(
            "/v1/nodes",
            json={"title": "Graph databases", "body": "Graph databases store nodes and edges."},
            headers=ALICE,
        )
    ).json()
    await client.post(
        "/v1/nodes", json={"title": "Cooking", "body": "Pasta needs salt."}, headers=ALICE
    )
    theirs = (
        await client.post(
            "/v1/nodes",
            json={"title": "Graph secrets", "body": "Bob's private graph databases notes."},
            headers=BOB,
        )
    ).json()

    response = await client.post(
        "/v1/ai/chat", json={"message": "What do graph databases store?"}, headers=ALICE
    )

    assert response.status_code == 200
    body = response.json()
    assert body["provider"] == "local"
    assert body["node_ids"] == [mine["id"]]
    assert "Graph databases store nodes and edges. [1]" in body["answer"]
    assert theirs["id"] not in response.text
    assert "private" not in body["answer"]


async def test_local_chat_without_matches_says_so(client: AsyncClient) -> None:
    response = await client.post("/v1/ai/chat", json={"message": "quantum?"}, headers=ALICE)

    assert response.json()["node_ids"] == []
    assert "nothing" in response.json()["answer"]


async def test_openai_provider_answers_with_the_notes_as_context(
    client_factory: ClientFactory, fake_llm: FakeLLM
) -> None:
    client = await client_factory(**llm_settings(fake_llm))
    node = (
        await client.post(
            "/v1/nodes", json={"title": "Graphs", "body": "Graphs connect things."}, headers=ALICE
        )
    ).json()

    response = await client.post(
        "/v1/ai/chat", json={"message": "What do graphs do?"}, headers=ALICE
    )

    assert response.status_code == 200
    assert response.json() == {
        "answer": "Graphs connect things [1].",
        "node_ids": [node["id"]],
        "provider": "openai",
    }
    (request,) = fake_llm.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    sent = request.body.decode()
    assert '"model": "test-model"' in sent or '"model":"test-model"' in sent
    assert "Graphs connect things." in sent


FAILURES = [
    ("slow", 504, "upstream-timeout", None),
    ("error", 502, "upstream-error", None),
    ("garbage", 502, "upstream-error", None),
    ("bad-gzip", 502, "upstream-error", None),
    ("refused", 502, "upstream-error", None),
    ("rate-limited", 503, "service-unavailable", "7"),
]


@pytest.mark.parametrize(("mode", "status", "slug", "retry_after"), FAILURES)
async def test_upstream_failures_map_to_problems_reported_once(
    client_factory: ClientFactory,
    fake_llm: FakeLLM,
    sentry_ingest: SentryIngest,
    logs: LogReader,
    mode: str,
    status: int,
    slug: str,
    retry_after: str | None,
) -> None:
    fake_llm.mode = mode
    client = await client_factory(
        **llm_settings(fake_llm),
        **sentry_on(sentry_ingest, environment="development", jwt_secret=_dev_secret()),
    )

    response = await client.post(
        "/v1/ai/chat", json={"message": "hello"}, headers={**ALICE, "X-Request-ID": "ai-fail-01"}
    )
    sentry_sdk.flush()

    assert response.status_code == status
    body = response.json()
    assert body["type"] == f"/problems/{slug}"
    assert response.headers.get("retry-after") == retry_after
    assert "sk-leak" not in response.text
    assert "upstream proxy page" not in response.text
    (event,) = sentry_ingest.events
    assert event["event_id"] == body["event_id"]
    assert event["contexts"]["graphnode"]["endpoint"] == "/v1/ai/chat"
    assert event["user"]["id"] == "alice"
    assert event["tags"]["correlation_id"] == "ai-fail-01"
    (transaction,) = sentry_ingest.transactions
    assert any(span["op"] == "http.client" for span in transaction["spans"])
    logs.read()
    for text in (logs.text, sentry_ingest.all_bytes().decode()):
        assert API_KEY not in text
        assert "sk-leak" not in text
    upstream_lines = {"llm.upstream_failed", "llm.malformed_response"}
    assert [line for line in logs.lines if line["event"] in upstream_lines]


async def test_client_errors_are_not_reported(
    client_factory: ClientFactory, sentry_ingest: SentryIngest
) -> None:
    client = await client_factory(
        **sentry_on(sentry_ingest, environment="development", jwt_secret=_dev_secret())
    )

    await client.post("/v1/ai/lightweight-analyze", json={"text": ""}, headers=ALICE)
    await client.post("/v1/ai/chat", json={"message": "x"})
    sentry_sdk.flush()

    assert sentry_ingest.events == []


async def test_retries_recover_from_transient_failures(
    client_factory: ClientFactory, fake_llm: FakeLLM
) -> None:
    fake_llm.script = ["error", "rate-limited", "ok"]
    fake_llm.retry_after = "0"
    client = await client_factory(**llm_settings(fake_llm, llm_max_retries=2))

    response = await client.post("/v1/ai/chat", json={"message": "hello"}, headers=ALICE)

    assert response.status_code == 200
    assert len(fake_llm.requests) == 3


async def test_retry_after_beyond_the_limit_goes_back_to_the_client(
    client_factory: ClientFactory, fake_llm: FakeLLM
) -> None:
    fake_llm.mode = "rate-limited"
    fake_llm.retry_after = "120"
    client = await client_factory(**llm_settings(fake_llm, llm_max_retries=3))

    response = await client.post("/v1/ai/chat", json={"message": "hello"}, headers=ALICE)

    assert response.status_code == 503
    assert response.headers["retry-after"] == "120"
    assert len(fake_llm.requests) == 1  # no point waiting two minutes inside a request


async def test_unreachable_upstream_is_a_502(client_factory: ClientFactory) -> None:
    client = await client_factory(
        llm_provider="openai", llm_base_url="http://127.0.0.1:9/v1", llm_max_retries=1
    )

    response = await client.post("/v1/ai/chat", json={"message": "hello"}, headers=ALICE)

    assert response.status_code == 502
    assert response.json()["type"] == "/problems/upstream-error"


async def test_an_upstream_that_trickles_its_answer_is_cut_at_the_deadline(
    client_factory: ClientFactory, fake_llm: FakeLLM, logs: LogReader
) -> None:
    fake_llm.mode = "trickle"
    fake_llm.delay = 0.1  # a byte every 0.1 s never trips the 0.5 s read timeout
    client = await client_factory(**llm_settings(fake_llm, llm_deadline_seconds=1.0))

    response = await client.post("/v1/ai/chat", json={"message": "hello"}, headers=ALICE)

    assert response.status_code == 504
    assert response.json()["type"] == "/problems/upstream-timeout"
    (line,) = [line for line in logs.read() if line["event"] == "llm.upstream_failed"]
    assert line["reason"] == "deadline"


def _http_date(seconds_from_now: float) -> str:
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        (None, "30"),  # no Retry-After: a default, not an immediate retry
        ("", "30"),
        ("12", "12"),
        (" 12 ", "12"),
        ("0", "1"),
        ("999999999", "86400"),  # clamped to a day
        ("9" * 5000, "30"),  # not a number we accept
        ("\u00b2", "30"),  # a digit to str.isdigit(), not to float()
        ("-5", "30"),
        ("1e9", "30"),
        ("Wed, 99 Foo 2026 99:99:99 GMT", "30"),
        (_http_date(-60), "1"),  # a date in the past: retry now-ish
    ],
)
async def test_retry_after_from_the_upstream_is_parsed_defensively(
    client_factory: ClientFactory, fake_llm: FakeLLM, sent: str | None, expected: str
) -> None:
    fake_llm.mode = "rate-limited"
    fake_llm.retry_after = sent
    client = await client_factory(**llm_settings(fake_llm))

    response = await client.post("/v1/ai/chat", json={"message": "hello"}, headers=ALICE)

    assert response.status_code == 503
    assert response.headers["retry-after"] == expected


async def test_retry_after_as_an_http_date_is_honoured(
    client_factory: ClientFactory, fake_llm: FakeLLM
) -> None:
    fake_llm.mode = "rate-limited"
    fake_llm.retry_after = _http_date(120)
    client = await client_factory(**llm_settings(fake_llm, llm_max_retries=3))

    response = await client.post("/v1/ai/chat", json={"message": "hello"}, headers=ALICE)

    assert response.status_code == 503
    assert 115 <= int(response.headers["retry-after"]) <= 121
    assert len(fake_llm.requests) == 1  # beyond LLM_MAX_RETRY_WAIT_SECONDS: not waited for


def _dev_secret() -> Any:
    from app.core.config import Settings

    return Settings(_env_file=None).jwt_secret

"""Search and chat quality on a labelled multilingual set, through the public API.

Only `POST /v1/nodes`, `GET /v1/nodes?q=` and `POST /v1/ai/chat` (local provider) are
used, so the same measurement runs against any version of the service.

- hit@1 / hit@3: over the answerable questions, the share whose first result (first
  three results) includes a node the answer should cite.
- false-citation rate: over all questions, the share of cited nodes (search: the first
  three results; chat: every cited node) that the answer should not cite. For a question
  the graph cannot answer, every citation is false.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from httpx import AsyncClient

DATASET = Path(__file__).with_name("dataset.json")
CITED_BY_SEARCH = 3


@dataclass(frozen=True, slots=True)
class Scores:
    hit_at_1: float
    hit_at_3: float
    false_citation_rate: float
    questions: int
    answerable: int


@dataclass(frozen=True, slots=True)
class Report:
    search: Scores
    chat: Scores
    misses: list[str]


def load() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DATASET.read_text(encoding="utf-8"))
    return data


def _scores(results: list[tuple[list[str], set[str]]]) -> Scores:
    answerable = [(got, wanted) for got, wanted in results if wanted]
    cited = [node for got, _ in results for node in got]
    false = sum(1 for got, wanted in results for node in got if node not in wanted)
    return Scores(
        hit_at_1=sum(bool(got[:1]) and got[0] in wanted for got, wanted in answerable)
        / len(answerable),
        hit_at_3=sum(bool(set(got[:3]) & wanted) for got, wanted in answerable) / len(answerable),
        false_citation_rate=false / len(cited) if cited else 0.0,
        questions=len(results),
        answerable=len(answerable),
    )


async def measure(client: AsyncClient, headers: dict[str, str]) -> Report:
    """Seed the set's nodes for the caller of `headers`, then ask every question."""
    data = load()
    keys: dict[str, str] = {}
    for node in data["nodes"]:
        body = {"title": node["title"], "body": node["body"], "tags": node["tags"]}
        response = await client.post("/v1/nodes", json=body, headers=headers)
        response.raise_for_status()
        keys[response.json()["id"]] = node["key"]

    search: list[tuple[list[str], set[str]]] = []
    chat: list[tuple[list[str], set[str]]] = []
    misses: list[str] = []
    for item in data["questions"]:
        wanted = set(item["cites"])
        found = await client.get(
            "/v1/nodes", params={"q": item["query"], "limit": CITED_BY_SEARCH}, headers=headers
        )
        found.raise_for_status()
        got = [keys[node["id"]] for node in found.json()["items"]][:CITED_BY_SEARCH]
        search.append((got, wanted))
        replied = await client.post(
            "/v1/ai/chat", json={"message": item["question"]}, headers=headers
        )
        replied.raise_for_status()
        cited = [keys[node_id] for node_id in replied.json()["node_ids"]]
        chat.append((cited, wanted))
        if set(got) - wanted or (wanted and not set(got[:3]) & wanted):
            misses.append(f"search {item['query']!r}: {got} (wanted {sorted(wanted)})")
        if set(cited) - wanted or (wanted and not set(cited[:3]) & wanted):
            misses.append(f"chat {item['question']!r}: {cited} (wanted {sorted(wanted)})")
    return Report(search=_scores(search), chat=_scores(chat), misses=misses)

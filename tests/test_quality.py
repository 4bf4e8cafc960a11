"""The labelled multilingual set (bench/quality) stays above the floors measured for it,
on both engines. README gives the numbers; `python -m bench.quality` prints them."""

from __future__ import annotations

from httpx import AsyncClient

from bench.quality import measure
from tests.conftest import auth

# Measured: search 1.00 / 1.00 / 0.12, chat 1.00 / 1.00 / 0.03 (hit@1, hit@3, false
# citations) on both engines; before full-text search: 0.48 / 0.56 / 0.16 and
# 0.70 / 0.70 / 0.64.
SEARCH_FLOOR = {"hit_at_1": 0.9, "hit_at_3": 0.95, "false_citation_rate": 0.15}
CHAT_FLOOR = {"hit_at_1": 0.9, "hit_at_3": 0.95, "false_citation_rate": 0.06}


async def test_search_and_chat_quality_hold_their_floors(graph_client: AsyncClient) -> None:
    report = await measure(graph_client, auth("quality"))

    for scores, floor in ((report.search, SEARCH_FLOOR), (report.chat, CHAT_FLOOR)):
        assert scores.hit_at_1 >= floor["hit_at_1"], report.misses
        assert scores.hit_at_3 >= floor["hit_at_3"], report.misses
        assert scores.false_citation_rate <= floor["false_citation_rate"], report.misses
    assert report.chat.questions - report.chat.answerable >= 5  # questions without an answer

"""Chat grounded in the caller's graph: retrieve their most relevant nodes, then answer."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.audit import audited
from app.models import Node
from app.providers.chat import ChatProvider, ContextNode, terms, tokens
from app.repositories.graph import NodeRepository

CONTEXT_NODES = 5
CANDIDATES = 200
MAX_QUERY_TERMS = 12
_TITLE_WEIGHT = 3.0


@dataclass(frozen=True, slots=True)
class ChatReply:
    answer: str
    node_ids: list[str]
    provider: str


def _score(node: Node, wanted: set[str]) -> float:
    title = Counter(w for w in tokens(node.title) if w in wanted)
    body_words = tokens(node.body)
    body = Counter(w for w in body_words if w in wanted)
    matched = set(title) | set(body)
    if not matched:
        return 0.0
    frequency = sum(_TITLE_WEIGHT * title[w] + body[w] for w in matched)
    # More distinct query terms matter most; long bodies do not win by length alone.
    return len(matched) * 10 + frequency / math.log(2 + len(body_words))


@audited
class ChatService:
    async def reply(
        self, session: AsyncSession, *, owner_id: str, message: str, provider: ChatProvider
    ) -> ChatReply:
        wanted = terms(message)
        # Longest words first: they are the most specific ones to search for.
        query = sorted(wanted, key=len, reverse=True)[:MAX_QUERY_TERMS]
        candidates = await NodeRepository.from_session(session).matching_any(
            owner_id, query, limit=CANDIDATES
        )
        ranked = sorted(
            ((score, node) for node in candidates if (score := _score(node, wanted)) > 0),
            key=lambda pair: pair[0],
            reverse=True,
        )[:CONTEXT_NODES]
        context = [ContextNode(str(node.id), node.title, node.body) for _, node in ranked]
        answer = await provider.answer(message, context)
        return ChatReply(answer=answer, node_ids=[n.id for n in context], provider=provider.name)


chat_service = ChatService()

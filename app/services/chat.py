"""Chat grounded in the caller's graph: retrieve the relevant nodes, then answer.

Retrieval goes through the full-text index (app.repositories.search) with the question's
content words: stop words of its language dropped, Korean particles stripped. A node is
relevant when it contains at least RELEVANCE_THRESHOLD of those words; when none is,
the provider gets no notes and the answer says the graph has nothing on it. A node that
covers much less than the best one (RELATIVE_THRESHOLD) is left out too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import anyio.to_thread
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.audit import audited
from app.models import Node
from app.providers.chat import ChatProvider, ContextNode
from app.repositories.search import Hit, SearchRepository
from app.search.stopwords import stopwords
from app.search.terms import Term, question_terms
from app.services.analysis import language_identifier

CONTEXT_NODES = 5
CANDIDATES = 50
MAX_QUERY_TERMS = 12
RELEVANCE_THRESHOLD = 0.5
# A node covering far less of the question than the best one is noise next to it.
RELATIVE_THRESHOLD = 0.75
# Short questions are often mistaken for a neighbouring language (German for
# Luxembourgish): the stop words of every likely language go.
_LIKELY_LANGUAGES = 3
_LIKELY = 0.1
# Technical notes mix English into every language, so its stop words always go. The CJK
# lists hold CJK words only, and short questions are often identified as a neighbouring
# variety (Chinese as `wuu`), so they always apply to CJK text.
_ALWAYS_DROPPED = ("en", "ko", "ja", "zh")


@dataclass(frozen=True, slots=True)
class ChatReply:
    answer: str
    node_ids: list[str]
    provider: str


def content_terms(message: str) -> list[Term]:
    """The words of `message` worth searching for (CPU-bound: language identification)."""
    ranked = language_identifier().rank(message)[:_LIKELY_LANGUAGES]
    languages = [str(language) for language, p in ranked if p >= _LIKELY]
    dropped = frozenset().union(*map(stopwords, [*languages, *_ALWAYS_DROPPED]))
    return question_terms(message, dropped)[:MAX_QUERY_TERMS]


def coverage(node: Node, terms: Sequence[Term]) -> float:
    """The share of `terms` the node contains, in its title or its body."""
    if not terms:
        return 0.0
    title, body = node.search_title.split(), node.search_body.split()
    found = sum(1 for term in terms if term.occurs_in(title) or term.occurs_in(body))
    return found / len(terms)


def relevant(hits: Sequence[Hit], terms: Sequence[Term]) -> list[Node]:
    """The hits that cover enough of the question, most covering first, then by rank."""
    scored = [(coverage(hit.node, terms), hit.score, hit.node) for hit in hits]
    best = max((item[0] for item in scored), default=0.0)
    threshold = max(RELEVANCE_THRESHOLD, best * RELATIVE_THRESHOLD)
    kept = [item for item in scored if item[0] >= threshold]
    kept.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [node for _, _, node in kept[:CONTEXT_NODES]]


@audited
class ChatService:
    async def retrieve(self, session: AsyncSession, *, owner_id: str, message: str) -> list[Node]:
        """The caller's nodes relevant to `message`, most relevant first (maybe none)."""
        terms = await anyio.to_thread.run_sync(content_terms, message)
        hits = await SearchRepository.from_session(session).search(
            owner_id, terms, limit=CANDIDATES, match_all=False
        )
        return relevant(hits, terms)

    async def reply(
        self, session: AsyncSession, *, owner_id: str, message: str, provider: ChatProvider
    ) -> ChatReply:
        nodes = await self.retrieve(session, owner_id=owner_id, message=message)
        context = [ContextNode(str(node.id), node.title, node.body) for node in nodes]
        answer = await provider.answer(message, context)
        return ChatReply(answer=answer, node_ids=[n.id for n in context], provider=provider.name)


chat_service = ChatService()

"""Full-text search over the caller's nodes, in the engine's own index.

SQLite: FTS5 (`nodes_fts`, ranked by BM25). PostgreSQL: the `search_vector` column with
its GIN index (ranked by `ts_rank`). Both index the folded tokens of `app.search.folding`
and get the same query, written in each engine's syntax, so both find the same nodes;
the scores differ in scale, higher is better on both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    Select,
    and_,
    cast,
    exists,
    func,
    literal_column,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.sql import ColumnElement

from app.models import Node, NodeTag
from app.repositories.base import Repository
from app.schemas.pagination import SCORE_SCALE, Cursor
from app.search.terms import Term

TITLE_WEIGHT = 3.0
BODY_WEIGHT = 1.0
# ts_rank normalisation 1: divide by 1 + log(length), so long bodies do not win by length.
_TS_RANK_NORMALISATION = 1


@dataclass(frozen=True, slots=True)
class Hit:
    node: Node
    score: int  # the engine's score times SCORE_SCALE: higher is better


def _fts5_term(term: Term) -> str:
    # Tokens are letters and digits only (app.search.folding), so quoting cannot break out.
    phrase = '"' + " ".join(term.tokens) + '"'
    return f"{phrase}*" if term.prefix else phrase


def fts5_query(terms: Sequence[Term], *, match_all: bool) -> str:
    joined = (" AND " if match_all else " OR ").join(_fts5_term(term) for term in terms)
    return f"{{title body}} : ({joined})"


def _tsquery_term(term: Term) -> str:
    lexemes = [f"'{token}'" for token in term.tokens]
    if term.prefix:
        lexemes[-1] += ":*"
    return "(" + " <-> ".join(lexemes) + ")"


def tsquery(terms: Sequence[Term], *, match_all: bool) -> str:
    return (" & " if match_all else " | ").join(_tsquery_term(term) for term in terms)


def _after(score: ColumnElement[int], cursor: Cursor | None) -> ColumnElement[bool]:
    if cursor is None:
        return true()
    return or_(score < cursor.key, and_(score == cursor.key, Node.id < cursor.id))


class SearchRepository(Repository):
    async def search(
        self,
        owner_id: str,
        terms: Sequence[Term],
        *,
        limit: int,
        match_all: bool = True,
        after: Cursor | None = None,
        tag: str | None = None,
    ) -> list[Hit]:
        """The owner's nodes matching all (or any) `terms`, best first, then by id."""
        if not terms:
            return []
        statement = self._ranked(terms, match_all=match_all, after=after)
        statement = statement.where(Node.owner_id == owner_id)
        if tag is not None:
            statement = statement.where(
                exists().where(NodeTag.node_id == Node.id, NodeTag.tag == tag)
            )
        result = await self.session.execute(statement.limit(limit))
        return [Hit(node, int(score)) for node, score in result]

    def _ranked(
        self, terms: Sequence[Term], *, match_all: bool, after: Cursor | None
    ) -> Select[Node, int]:
        dialect = self.session.get_bind().dialect.name
        if dialect == "postgresql":
            query = func.to_tsquery(
                literal_column("'simple'::regconfig"), tsquery(terms, match_all=match_all)
            )
            vector: ColumnElement[Any] = literal_column("nodes.search_vector")
            rank = func.ts_rank(
                literal_column(f"'{{0.1, 0.2, {BODY_WEIGHT / TITLE_WEIGHT}, 1.0}}'::float4[]"),
                vector,
                query,
                _TS_RANK_NORMALISATION,
                type_=Float,
            )
            score = cast(rank * SCORE_SCALE, BigInteger)
            return (
                select(Node, score.label("score"))
                .where(vector.op("@@")(query), _after(score, after))
                .order_by(score.desc(), Node.id.desc())
            )
        if dialect == "sqlite":
            hits = (
                select(
                    literal_column("node_id").label("node_id"),
                    cast(
                        -func.bm25(literal_column("nodes_fts"), 0.0, TITLE_WEIGHT, BODY_WEIGHT)
                        * SCORE_SCALE,
                        BigInteger,
                    ).label("score"),
                )
                .select_from(text("nodes_fts"))
                .where(
                    text("nodes_fts MATCH :match").bindparams(
                        match=fts5_query(terms, match_all=match_all)
                    )
                )
                .cte("hits")
            )
            return (
                select(Node, hits.c.score)
                .join(hits, Node.id == hits.c.node_id)
                .where(_after(hits.c.score, after))
                .order_by(hits.c.score.desc(), Node.id.desc())
            )
        raise NotImplementedError(f"full-text search on {dialect}")

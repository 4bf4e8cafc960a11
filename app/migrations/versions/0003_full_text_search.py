"""full-text search: folded text columns, the engines' indexes, extracted documents

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

SQLite: an FTS5 table `nodes_fts` (node id, folded title, folded body), kept in step with
`nodes` by triggers. PostgreSQL: a generated `tsvector` column (title weight A, body B,
`simple` configuration: the text is folded and tokenised in Python already) with a GIN
index. Both index the same tokens, so both find the same nodes (docs/search.md).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.search.folding import index_text

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BACKFILL_BATCH = 1000

# FTS5 has no index on an ordinary column: a node's row is found through its id, indexed
# as a token of the `node_id` column (a rowid would do, but VACUUM may renumber the
# implicit rowids of `nodes`).
_SQLITE_ROWS_OF = (
    "DELETE FROM nodes_fts WHERE rowid IN (SELECT rowid FROM nodes_fts "
    "WHERE nodes_fts MATCH 'node_id : \"' || old.id || '\"')"
)
_SQLITE = [
    "CREATE VIRTUAL TABLE nodes_fts USING fts5("
    "node_id, title, body, tokenize = 'unicode61 remove_diacritics 2')",
    "CREATE TRIGGER nodes_fts_insert AFTER INSERT ON nodes BEGIN "
    "INSERT INTO nodes_fts (node_id, title, body) "
    "VALUES (new.id, new.search_title, new.search_body); END",
    "CREATE TRIGGER nodes_fts_update AFTER UPDATE OF search_title, search_body ON nodes BEGIN "
    f"{_SQLITE_ROWS_OF}; "
    "INSERT INTO nodes_fts (node_id, title, body) "
    "VALUES (new.id, new.search_title, new.search_body); END",
    f"CREATE TRIGGER nodes_fts_delete AFTER DELETE ON nodes BEGIN {_SQLITE_ROWS_OF}; END",
]
_POSTGRESQL = [
    "ALTER TABLE nodes ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('simple'::regconfig, search_title), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, search_body), 'B')) STORED",
    "CREATE INDEX ix_nodes_search ON nodes USING gin (search_vector)",
]


def _backfill() -> None:
    connection = op.get_bind()
    nodes = sa.table(
        "nodes",
        sa.column("id", sa.Uuid()),
        sa.column("title", sa.String()),
        sa.column("body", sa.Text()),
        sa.column("search_title", sa.Text()),
        sa.column("search_body", sa.Text()),
    )
    update = (
        nodes.update()
        .where(nodes.c.id == sa.bindparam("node_id"))
        .values(search_title=sa.bindparam("folded_title"), search_body=sa.bindparam("folded_body"))
    )
    rows = connection.execute(sa.select(nodes.c.id, nodes.c.title, nodes.c.body)).all()
    for start in range(0, len(rows), _BACKFILL_BATCH):
        batch = rows[start : start + _BACKFILL_BATCH]
        connection.execute(
            update,
            [
                {
                    "node_id": row.id,
                    "folded_title": index_text(row.title),
                    "folded_body": index_text(row.body),
                }
                for row in batch
            ],
        )


def upgrade() -> None:
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("search_title", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("search_body", sa.Text(), nullable=False, server_default=""))
        # A later batch operation that copies `nodes` on SQLite drops its triggers:
        # such a migration must create them again (see _SQLITE).
        batch_op.create_index(
            "ix_nodes_owner_search_title", ["owner_id", "search_title"], unique=False
        )
    op.create_table(
        "extracted_documents",
        sa.Column("owner_id", sa.String(length=128), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner_id", "digest", name=op.f("pk_extracted_documents")),
    )
    dialect = op.get_bind().dialect.name
    for statement in {"sqlite": _SQLITE, "postgresql": _POSTGRESQL}.get(dialect, []):
        op.execute(statement)
    # After the triggers exist: on SQLite, the backfill's updates fill the FTS table.
    _backfill()


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("nodes_fts_insert", "nodes_fts_update", "nodes_fts_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS nodes_fts")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_nodes_search")
        op.execute("ALTER TABLE nodes DROP COLUMN IF EXISTS search_vector")
    op.drop_table("extracted_documents")
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.drop_index("ix_nodes_owner_search_title")
        batch_op.drop_column("search_body")
        batch_op.drop_column("search_title")

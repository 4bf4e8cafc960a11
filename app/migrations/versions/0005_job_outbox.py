"""jobs: outbox columns (message labels, sent_at)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("labels", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_jobs_unsent", ["sent_at", "status", "created_at"], unique=False)
    # Jobs from before the outbox were sent (or failed) when they were submitted: the relay
    # must not send them again.
    op.execute("UPDATE jobs SET sent_at = created_at")


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_unsent")
        batch_op.drop_column("sent_at")
        batch_op.drop_column("labels")

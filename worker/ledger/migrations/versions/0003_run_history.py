"""runs: tool_runs.history (one entry per attempt or park) and requested_key

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 23:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "tool_runs",
        sa.Column("history", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    # The idempotency key a call asked for, kept from the moment it is queued (the
    # unique idempotency_key column holds it only once the run claims it): a run
    # published again after the broker lost its message keeps its key.
    op.add_column("tool_runs", sa.Column("requested_key", sa.String(length=255), nullable=True))


def downgrade() -> None:
    op.drop_column("tool_runs", "requested_key")
    op.drop_column("tool_runs", "history")

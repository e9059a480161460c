"""syncs: sync_state.definition (what beat schedules, recorded when it starts)

Revision ID: 0005_sync_definitions
Revises: 0004
Create Date: 2026-12-04 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005_sync_definitions"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A sync's definition as the beat that schedules it knows it (kind's fields, every
    # or cron, which beat, when): an operator's shell without that configuration can
    # still describe the syncs the running fleet has.
    op.add_column(
        "sync_state",
        sa.Column("definition", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("sync_state", "definition")

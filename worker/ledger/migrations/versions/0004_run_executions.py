"""runs: execution fence and lease (tool_runs.execution, executor, lease_until,
maybe_written; sync_state.execution)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The fence: each execution of a run takes the next number when it begins, and
    # every later write of that execution applies only while the number is still its own.
    op.add_column(
        "tool_runs", sa.Column("execution", sa.Integer(), server_default="0", nullable=False)
    )
    # Who runs it now (a worker process's heartbeat name) and until when at most.
    op.add_column("tool_runs", sa.Column("executor", sa.String(length=255), nullable=True))
    op.add_column("tool_runs", sa.Column("lease_until", sa.DateTime(timezone=True)))
    # An earlier execution may have written without our knowing, and no reconcile
    # lookup has checked it yet.
    op.add_column(
        "tool_runs",
        sa.Column("maybe_written", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    # A sync's lease is held by one execution of one run, not by the run id alone.
    op.add_column("sync_state", sa.Column("execution", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("sync_state", "execution")
    for column in ("maybe_written", "lease_until", "executor", "execution"):
        op.drop_column("tool_runs", column)

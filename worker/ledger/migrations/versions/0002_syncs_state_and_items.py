"""syncs: sync_state and synced_items

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 18:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSONB = postgresql.JSONB(astext_type=sa.Text())
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sync_state",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=512), nullable=True),
        sa.Column("cursor", sa.String(length=64), nullable=True),
        sa.Column("checkpoint", JSONB, nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("lease_until", WHEN, nullable=True),
        sa.Column("last_run_id", sa.String(length=64), nullable=True),
        sa.Column("last_started_at", WHEN, nullable=True),
        sa.Column("last_finished_at", WHEN, nullable=True),
        sa.Column("last_outcome", sa.String(length=16), nullable=True),
        sa.Column("last_counts", JSONB, nullable=True),
        sa.Column("last_error", JSONB, nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("skipped_runs", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_success_at", WHEN, nullable=True),
        sa.Column("updated_at", WHEN, server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "synced_items",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("sync_name", sa.String(length=128), nullable=False),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("source_updated_at", sa.String(length=64), nullable=True),
        sa.Column("first_seen", WHEN, server_default=sa.text("now()"), nullable=False),
        sa.Column("last_seen", WHEN, server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", WHEN, server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "synced_items_identity_uq",
        "synced_items",
        ["provider", "kind", "external_id"],
        unique=True,
    )
    op.create_index(
        "synced_items_sync_seen_idx",
        "synced_items",
        ["sync_name", sa.literal_column("last_seen DESC")],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("synced_items_sync_seen_idx", table_name="synced_items")
    op.drop_index("synced_items_identity_uq", table_name="synced_items")
    op.drop_table("synced_items")
    op.drop_table("sync_state")

"""The ledger's tables (SQLAlchemy 2.x declarative); Alembic migrations mirror them.

- ``tool_runs``: one row per run, keyed by the Celery task id; ``history`` keeps
  its last attempts and parks (when, how long, which error, why it waited).
- ``dead_letters``: what can never succeed, kept for inspection and replay.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    false,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class RunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    PARKED = "parked"
    SUCCEEDED = "succeeded"
    DEAD = "dead"
    LOST = "lost"  # the broker lost its message and it could not be sent again


class LetterState(enum.StrEnum):
    DEAD = "dead"
    REPLAYED = "replayed"
    DISCARDED = "discarded"


FINAL_STATUSES = frozenset({RunStatus.SUCCEEDED, RunStatus.DEAD, RunStatus.LOST})


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONB, datetime: DateTime(timezone=True)}


class ToolRun(Base):
    __tablename__ = "tool_runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tool: Mapped[str] = mapped_column(String(128))
    queue: Mapped[str | None] = mapped_column(String(64))
    worker: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any] | None]
    result: Mapped[dict[str, Any] | None]
    error: Mapped[dict[str, Any] | None]
    history: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    parks: Mapped[int] = mapped_column(Integer, server_default="0")
    redeliveries: Mapped[int] = mapped_column(Integer, server_default="0")
    # The execution fence (worker.ledger.runs): the number of the execution that owns
    # the run, the worker process running it and until when its claim holds at most.
    execution: Mapped[int] = mapped_column(Integer, server_default="0")
    executor: Mapped[str | None] = mapped_column(String(255))
    lease_until: Mapped[datetime | None]
    maybe_written: Mapped[bool] = mapped_column(Boolean, server_default=false())
    idempotency_key: Mapped[str | None] = mapped_column(String(255))  # held: unique
    requested_key: Mapped[str | None] = mapped_column(String(255))  # the call asked for
    duplicate_of: Mapped[str | None] = mapped_column(String(64))
    agent_task_id: Mapped[str | None] = mapped_column(String(255))
    step_id: Mapped[str | None] = mapped_column(String(255))
    next_attempt_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        Index(
            "tool_runs_idempotency_key_uq",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        Index("tool_runs_tool_created_idx", "tool", text("created_at DESC")),
        Index("tool_runs_status_created_idx", "status", text("created_at DESC")),
        Index("tool_runs_correlation_idx", "agent_task_id", "step_id"),
    )


class DeadLetter(Base):
    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    run_id: Mapped[str | None] = mapped_column(String(64), index=True)
    tool: Mapped[str | None] = mapped_column(String(128))
    queue: Mapped[str | None] = mapped_column(String(64))
    params: Mapped[dict[str, Any] | None]
    headers: Mapped[dict[str, Any] | None]
    error: Mapped[dict[str, Any]]
    traceback: Mapped[str | None] = mapped_column(Text)
    raw_message: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), server_default=LetterState.DEAD.value)
    dead_at: Mapped[datetime] = mapped_column(server_default=func.now())
    replayed_as: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[datetime | None]

    __table_args__ = (Index("dead_letters_state_dead_at_idx", "state", text("dead_at DESC")),)


class SyncState(Base):
    """One row per configured sync: its cursor, its checkpoint, who runs it, how it went."""

    __tablename__ = "sync_state"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(512))
    cursor: Mapped[str | None] = mapped_column(String(64))  # newest change synced
    checkpoint: Mapped[dict[str, Any] | None]  # a run in progress: since, next page, high water
    run_id: Mapped[str | None] = mapped_column(String(64))  # the run holding the lease
    execution: Mapped[int | None] = mapped_column(Integer)  # ...and which execution of it
    lease_until: Mapped[datetime | None]
    last_run_id: Mapped[str | None] = mapped_column(String(64))
    last_started_at: Mapped[datetime | None]
    last_finished_at: Mapped[datetime | None]
    last_outcome: Mapped[str | None] = mapped_column(String(16))  # succeeded/failed/skipped
    last_counts: Mapped[dict[str, Any] | None]  # pages, inserted, updated, unchanged
    last_error: Mapped[dict[str, Any] | None]
    consecutive_failures: Mapped[int] = mapped_column(Integer, server_default="0")
    skipped_runs: Mapped[int] = mapped_column(Integer, server_default="0")
    last_success_at: Mapped[datetime | None]
    # As the beat scheduling it recorded it at start: every/cron, fields, by whom, when.
    definition: Mapped[dict[str, Any] | None]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class SyncedItem(Base):
    """What a sync brought in: one row per provider object, upserted by content hash."""

    __tablename__ = "synced_items"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(255))
    sync_name: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]]
    content_hash: Mapped[str] = mapped_column(String(64))
    source_updated_at: Mapped[str | None] = mapped_column(String(64))  # the provider's own
    first_seen: Mapped[datetime] = mapped_column(server_default=func.now())
    last_seen: Mapped[datetime] = mapped_column(server_default=func.now())  # last changed
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        Index("synced_items_identity_uq", "provider", "kind", "external_id", unique=True),
        Index("synced_items_sync_seen_idx", "sync_name", text("last_seen DESC")),
    )

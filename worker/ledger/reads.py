"""Reading runs for people and programs: one run in full, the latest runs.

Each read carries the run's latest dead letter id (a replayed run's new run
has its own).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select

from worker.ledger.db import transaction
from worker.ledger.models import DeadLetter, RunStatus, ToolRun

RUNS = ToolRun.__table__
LETTERS = DeadLetter.__table__

# The run's latest dead letter (a replayed one's new run has its own).
_LETTER_ID = (
    select(func.max(LETTERS.c.id))
    .where(LETTERS.c.run_id == RUNS.c.id)
    .scalar_subquery()
    .label("dead_letter_id")
)


def get_run(run_id: str) -> dict[str, Any] | None:
    """Everything recorded about one run, with its latest dead letter's id."""
    with transaction(atomic=False) as conn:
        query = select(RUNS, _LETTER_ID).where(RUNS.c.id == run_id)
        row = conn.execute(query).mappings().first()
        return dict(row) if row else None


def stale_waiting_runs(grace_seconds: float, limit: int) -> list[dict[str, Any]]:
    """Runs waiting for the broker (queued, retrying, parked) untouched for
    ``grace_seconds``, and runs ``running`` under a claim that expired that long ago
    (an execution that ended without its write landing), oldest first: the
    candidates of worker.broker.lost."""
    since = datetime.now(UTC) - timedelta(seconds=grace_seconds)
    waiting = (RunStatus.QUEUED, RunStatus.RETRYING, RunStatus.PARKED)
    abandoned = and_(RUNS.c.status == RunStatus.RUNNING, RUNS.c.lease_until < since)
    query = (
        select(RUNS)
        .where(or_(RUNS.c.status.in_(waiting), abandoned), RUNS.c.updated_at < since)
        .order_by(RUNS.c.updated_at)
        .limit(limit)
    )
    with transaction(atomic=False) as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def list_runs(
    *, tool: str | None = None, status: str | None = None, limit: int = 20
) -> list[dict[str, Any]]:
    """The newest runs, each with the id of its latest dead letter (or None)."""
    query = select(RUNS, _LETTER_ID).order_by(RUNS.c.created_at.desc()).limit(limit)
    if tool:
        query = query.where(RUNS.c.tool == tool)
    if status:
        query = query.where(RUNS.c.status == status)
    with transaction(atomic=False) as conn:
        return [dict(row) for row in conn.execute(query).mappings()]

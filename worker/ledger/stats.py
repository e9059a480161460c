"""Counts over the ledger for the operator's views (``fleet status``, ``fleet metrics``).

Each is one grouped statement. Runs still in flight are found through the
status index, so the count costs the same however many finished runs the
table holds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from worker.ledger.db import transaction
from worker.ledger.models import FINAL_STATUSES, LetterState, RunStatus

ACTIVE_STATUSES = tuple(s.value for s in RunStatus if s not in FINAL_STATUSES)


def active_runs() -> dict[str, int]:
    """Runs not yet final, by status (every such status present, zero included)."""
    with transaction(atomic=False) as conn:
        rows = conn.execute(
            text(
                "SELECT status, count(*) FROM tool_runs WHERE status = ANY(:active) GROUP BY status"
            ),
            {"active": list(ACTIVE_STATUSES)},
        ).all()
    return {status: 0 for status in ACTIVE_STATUSES} | {row[0]: row[1] for row in rows}


def recent_runs(minutes: float) -> dict[str, int]:
    """Runs created in the last ``minutes``, by their status now."""
    since = datetime.now(UTC) - timedelta(minutes=minutes)
    with transaction(atomic=False) as conn:
        rows = conn.execute(
            text(
                "SELECT status, count(*) FROM tool_runs WHERE created_at >= :since GROUP BY status"
            ),
            {"since": since},
        ).all()
    return {status.value: 0 for status in RunStatus} | {row[0]: row[1] for row in rows}


def letters_by_state() -> dict[str, int]:
    with transaction(atomic=False) as conn:
        rows = conn.execute(text("SELECT state, count(*) FROM dead_letters GROUP BY state")).all()
    return {state.value: 0 for state in LetterState} | {row[0]: row[1] for row in rows}

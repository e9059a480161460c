"""A run's writes in ``tool_runs``, from its claim to final (the claim: worker.ledger.claims).

Every write is one short statement or transaction through the process's
pooled engine (see :mod:`worker.ledger.db`). Values are redacted on the way
in, so no configured secret reaches a row. Each attempt's and park's end is
appended to the run's ``history`` by the same statement that records it (no
extra round trip: worker.ledger.history).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import ColumnElement, Connection, update

from worker import events
from worker.ledger.announce import EVENT_COLUMNS, announce
from worker.ledger.db import driver_cursor, transaction
from worker.ledger.history import HISTORY_APPENDED, error_summary, with_entry
from worker.ledger.history import entry as history_entry
from worker.ledger.models import FINAL_STATUSES, RunStatus, ToolRun
from worker.ledger.refs import Holder
from worker.redact import redact_json

logger = logging.getLogger(__name__)
RUNS = ToolRun.__table__


def now() -> datetime:
    return datetime.now(UTC)


# ---- writes from the tool policy --------------------------------------------
#
# Each is fenced (worker.ledger.claims): it names the execution that makes it and
# applies only while the run is still that execution's and not final.

# The same guard in the statements written out as text (aliased ``r``).
NOT_FINAL = f"r.status NOT IN ({', '.join(repr(str(s)) for s in sorted(FINAL_STATUSES))})"


def update_run(conn: Connection, run_id: str, **values: Any) -> None:
    conn.execute(update(RUNS).where(RUNS.c.id == run_id).values(updated_at=now(), **values))


def fenced(execution: int | None) -> list[ColumnElement[bool]]:
    """The guard of a write: the run is not final and, for an execution's write, is
    still that execution's (``None``: a write from outside any execution)."""
    guard = [RUNS.c.status.notin_(list(FINAL_STATUSES))]
    if execution is not None:
        guard.append(RUNS.c.execution == execution)
    return guard


def _set(run_id: str, execution: int, *, outcome: Any = None, **values: Any) -> bool:
    """One autocommitted, fenced update of a run's row (:func:`fenced`); then its event
    (worker.events), from what the same statement returned. ``outcome``: the result, or
    the error dict. False when the write was stale and nothing was changed."""
    status = values.get("status")
    wanted = status is not None and events.wanted(status)
    statement = (
        update(RUNS)
        .where(RUNS.c.id == run_id, *fenced(execution))
        .values(updated_at=now(), **values)
        .returning(*EVENT_COLUMNS)
    )
    with transaction(atomic=False) as conn:
        row = conn.execute(statement).mappings().first()
    if row is None:
        stale(run_id, execution, str(status))
        return False
    if wanted:
        announce(row, outcome)
    return True


def stale(run_id: str, execution: int | None, what: str) -> None:
    """A write that lost to a newer execution or a final status: dropped, and said so."""
    logger.warning(
        "run %s: a stale write (%s, execution %s) was not applied: the run has moved on",
        run_id, what, execution,
    )  # fmt: skip


# The second statement of every run, written out for the reason _BEGIN is.
_SUCCEED = f"""
    UPDATE tool_runs AS r SET
        status = 'succeeded', result = %(result)s, error = NULL, attempts = attempts + 1,
        finished_at = now(), next_attempt_at = NULL, updated_at = now(),
        history = {HISTORY_APPENDED}
    WHERE id = %(id)s AND execution = %(execution)s AND {NOT_FINAL}
    RETURNING {", ".join(column.name for column in EVENT_COLUMNS)}
"""  # noqa: S608 — built from module constants only


def succeed(
    run_id: str,
    result: dict[str, Any],
    *,
    execution: int,
    attempt: int | None = None,
    started_at: datetime | str | None = None,
) -> dict[str, Any]:
    """Record the result; returns it as stored (redacted), which is what callers get."""
    stored = redact_json(result)
    entry = history_entry("succeeded", attempt=attempt, started_at=started_at)
    with driver_cursor() as cursor:
        params = {
            "id": run_id,
            "execution": execution,
            "result": Jsonb(stored),
            "entry": Jsonb([entry]),
        }
        written = cursor.execute(_SUCCEED, params).fetchone()
    if written is None:
        stale(run_id, execution, "succeeded")
    else:
        announce(written, stored)
    return stored


def schedule_retry(
    run_id: str,
    error: dict[str, Any],
    countdown: float,
    *,
    execution: int,
    maybe_written: bool = False,
    started_at: datetime | str | None = None,
) -> bool:
    """A failed attempt that will be tried again after ``countdown`` seconds.
    ``maybe_written``: the write may have happened and no lookup has checked yet."""
    return _set(
        run_id,
        execution,
        outcome=error,
        maybe_written=maybe_written,
        status=RunStatus.RETRYING,
        error=redact_json(error),
        attempts=RUNS.c.attempts + 1,
        next_attempt_at=now() + timedelta(seconds=countdown),
        history=with_entry(
            "failed",
            attempt=error.get("attempt"),
            started_at=started_at,
            error=error_summary(error),
            retry_in=round(countdown, 3),
        ),
    )


def park(run_id: str, countdown: float, reason: str = "", *, execution: int) -> bool:
    """Waiting for a budget, a lock or another run: not a failure, not an attempt."""
    return _set(
        run_id,
        execution,
        status=RunStatus.PARKED,
        parks=RUNS.c.parks + 1,
        next_attempt_at=now() + timedelta(seconds=countdown),
        history=with_entry("parked", wait=round(countdown, 3), reason=reason),
    )


def unchanged_since(run: dict[str, Any]) -> list[ColumnElement[bool]]:
    """The guard of a write decided from a row read earlier (the lost-run sweep): the
    row is exactly as read, in status, execution and last update."""
    return [
        RUNS.c.id == run["id"],
        RUNS.c.status == run["status"],
        RUNS.c.execution == run["execution"],
        RUNS.c.updated_at == run["updated_at"],
    ]


def mark_republished(run: dict[str, Any]) -> bool:
    """Make a run whose message the broker lost ``queued`` again, unless it changed since
    ``run`` was read (then someone else has it); True if this caller may publish it."""
    with transaction(atomic=False) as conn:
        row = conn.execute(
            update(RUNS)
            .where(*unchanged_since(run))
            .values(
                status=RunStatus.QUEUED,
                updated_at=now(),
                next_attempt_at=None,
                # an execution that was `running` may have written before it vanished
                maybe_written=RUNS.c.maybe_written | (RUNS.c.status == RunStatus.RUNNING),
                history=with_entry("republished", was=run["status"], reason="message lost"),
            )
            .returning(RUNS.c.id)
        ).first()
    return row is not None


def copy_outcome(run_id: str, holder: Holder, *, execution: int) -> bool:
    """Record a duplicate call as ending the way the run holding its key ended."""
    return _set(
        run_id,
        execution,
        outcome=holder.error if holder.error is not None else holder.result,
        status=holder.status,
        result=holder.result,
        error=holder.error,
        duplicate_of=holder.run_id,
        finished_at=now(),
        next_attempt_at=None,
        history=with_entry("duplicate", of=holder.run_id, status=holder.status),
    )

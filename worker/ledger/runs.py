"""A run's rows in ``tool_runs``: from ``queued`` to final, and the reads of them.

Every write is one short statement or transaction through the process's
pooled engine (see :mod:`worker.ledger.db`). Values are redacted on the way
in, so no configured secret reaches a row. Each attempt's and park's end is
appended to the run's ``history`` by the same statement that records it (no
extra round trip: worker.ledger.history).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.errors import UniqueViolation
from psycopg.types.json import Jsonb
from sqlalchemy import Connection, update

from worker import events
from worker.ledger.announce import EVENT_COLUMNS, announce
from worker.ledger.db import LedgerUnavailable, driver_cursor, transaction
from worker.ledger.history import HISTORY_APPENDED, error_summary, with_entry
from worker.ledger.history import entry as history_entry
from worker.ledger.models import RunStatus, ToolRun
from worker.ledger.refs import Begun, Holder, RunRef, ref_columns
from worker.redact import redact_json

RUNS = ToolRun.__table__


def now() -> datetime:
    return datetime.now(UTC)


# ---- writes from the tool policy --------------------------------------------


def begin(ref: RunRef) -> Begun:
    """Mark the run ``running``; report what came before and who holds its key."""
    for _ in range(3):
        try:
            # Autocommit is enough: the unique key index settles races for a key.
            with driver_cursor() as cursor:
                return _begin(cursor, ref)
        except UniqueViolation:
            continue  # another run claimed the same idempotency key first: look again
    raise LedgerUnavailable("could not claim the idempotency key (contention)")


# The hottest statement of the fleet, written out and run on the driver's cursor
# (worker.ledger.db.driver_cursor): built with the SQL expression language it cost
# ~2 ms of CPU per run, as text through SQLAlchemy still several times what it
# costs here. psycopg prepares it on the server after a few runs.
_BEGIN = """
    INSERT INTO tool_runs AS r (id, tool, queue, params, agent_task_id, step_id, requested_key,
                                status, worker, started_at, updated_at, idempotency_key,
                                duplicate_of)
    VALUES (%(id)s, %(tool)s, %(queue)s, %(params)s, %(agent_task_id)s, %(step_id)s,
            %(requested_key)s, 'running', %(worker)s, now(), now(), %(idempotency_key)s,
            %(duplicate_of)s)
    ON CONFLICT (id) DO UPDATE SET
        status = 'running',
        queue = coalesce(EXCLUDED.queue, r.queue),  -- where it runs (forwarded: not where sent)
        worker = EXCLUDED.worker,
        updated_at = now(),
        started_at = coalesce(r.started_at, now()),
        params = coalesce(r.params, EXCLUDED.params),
        requested_key = coalesce(r.requested_key, EXCLUDED.requested_key),
        idempotency_key = EXCLUDED.idempotency_key,
        duplicate_of = EXCLUDED.duplicate_of,
        -- found `running`: the execution that set it never finished (its worker died)
        redeliveries = r.redeliveries + CASE WHEN r.status = 'running' THEN 1 ELSE 0 END
    WHERE r.status NOT IN ('succeeded', 'dead', 'lost')
    RETURNING attempts, parks, redeliveries, started_at, error
"""
_FINAL = "SELECT * FROM tool_runs WHERE id = %(id)s"


def _begin(cursor: Any, ref: RunRef) -> Begun:
    holder = _key_holder(cursor, ref) if ref.idempotency_key else None
    columns = ref_columns(ref)
    row = cursor.execute(
        _BEGIN,
        {
            **columns,
            "params": Jsonb(columns["params"]),
            "worker": ref.worker,
            "idempotency_key": None if holder else ref.idempotency_key,
            "duplicate_of": holder.run_id if holder else None,
        },
    ).fetchone()
    if row is not None:
        return Begun(
            None,
            row["attempts"],
            row["parks"],
            row["redeliveries"],
            row["started_at"],
            error=row["error"],
            holder=holder,
        )
    # No row returned: the run had already ended. Answer from what was recorded.
    final = cursor.execute(_FINAL, {"id": ref.run_id}).fetchone()
    return Begun(
        final["status"],
        final["attempts"],
        final["parks"],
        final["redeliveries"],
        final["started_at"],
        finished_at=final["finished_at"],
        result=final["result"],
        error=final["error"],
    )


_KEY_HOLDER = """
    SELECT id, status, result, error FROM tool_runs
    WHERE idempotency_key = %(key)s AND id <> %(id)s
"""


def _key_holder(cursor: Any, ref: RunRef) -> Holder | None:
    """The other run that owns ``ref``'s idempotency key, if any."""
    found = cursor.execute(_KEY_HOLDER, {"key": ref.idempotency_key, "id": ref.run_id}).fetchone()
    return Holder(found["id"], found["status"], found["result"], found["error"]) if found else None


def update_run(conn: Connection, run_id: str, **values: Any) -> None:
    conn.execute(update(RUNS).where(RUNS.c.id == run_id).values(updated_at=now(), **values))


def _set(run_id: str, *, outcome: Any = None, **values: Any) -> None:
    """One autocommitted update of a run's row; then its event (worker.events), from
    what the same statement returned. ``outcome``: the result, or the error dict."""
    status = values.get("status")
    wanted = status is not None and events.wanted(status)
    statement = update(RUNS).where(RUNS.c.id == run_id).values(updated_at=now(), **values)
    if wanted:
        statement = statement.returning(*EVENT_COLUMNS)
    with transaction(atomic=False) as conn:
        written = conn.execute(statement)
        row = written.mappings().first() if wanted else None
    if row is not None:
        announce(row, outcome)


# The second statement of every run, written out for the reason _BEGIN is.
_SUCCEED = f"""
    UPDATE tool_runs SET
        status = 'succeeded', result = %(result)s, error = NULL, attempts = attempts + 1,
        finished_at = now(), next_attempt_at = NULL, updated_at = now(),
        history = {HISTORY_APPENDED}
    WHERE id = %(id)s
    RETURNING {", ".join(column.name for column in EVENT_COLUMNS)}
"""  # noqa: S608 — built from module constants only


def succeed(
    run_id: str,
    result: dict[str, Any],
    *,
    attempt: int | None = None,
    started_at: datetime | str | None = None,
) -> dict[str, Any]:
    """Record the result; returns it as stored (redacted), which is what callers get."""
    stored = redact_json(result)
    entry = history_entry("succeeded", attempt=attempt, started_at=started_at)
    with driver_cursor() as cursor:
        params = {"id": run_id, "result": Jsonb(stored), "entry": Jsonb([entry])}
        written = cursor.execute(_SUCCEED, params).fetchone()
    if written is not None:
        announce(written, stored)
    return stored


def schedule_retry(
    run_id: str,
    error: dict[str, Any],
    countdown: float,
    *,
    started_at: datetime | str | None = None,
) -> None:
    """A failed attempt that will be tried again after ``countdown`` seconds."""
    _set(
        run_id,
        outcome=error,
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


def park(run_id: str, countdown: float, reason: str = "") -> None:
    """Waiting for a budget, a lock or another run: not a failure, not an attempt."""
    _set(
        run_id,
        status=RunStatus.PARKED,
        parks=RUNS.c.parks + 1,
        next_attempt_at=now() + timedelta(seconds=countdown),
        history=with_entry("parked", wait=round(countdown, 3), reason=reason),
    )


def mark_republished(run: dict[str, Any]) -> bool:
    """Make a run whose message the broker lost ``queued`` again, unless it changed since
    ``run`` was read (then someone else has it); True if this caller may publish it."""
    with transaction(atomic=False) as conn:
        row = conn.execute(
            update(RUNS)
            .where(
                RUNS.c.id == run["id"],
                RUNS.c.status == run["status"],
                RUNS.c.updated_at == run["updated_at"],
            )
            .values(
                status=RunStatus.QUEUED,
                updated_at=now(),
                next_attempt_at=None,
                history=with_entry("republished", was=run["status"], reason="message lost"),
            )
            .returning(RUNS.c.id)
        ).first()
    return row is not None


def copy_outcome(run_id: str, holder: Holder) -> None:
    """Record a duplicate call as ending the way the run holding its key ended."""
    _set(
        run_id,
        outcome=holder.error if holder.error is not None else holder.result,
        status=holder.status,
        result=holder.result,
        error=holder.error,
        duplicate_of=holder.run_id,
        finished_at=now(),
        next_attempt_at=None,
        history=with_entry("duplicate", of=holder.run_id, status=holder.status),
    )

"""Claiming a run for one execution: the fence every later write of the run goes through.

``begin`` claims a run by compare-and-set: it takes the next execution number,
names the worker process running it (``executor``) and holds the claim until
``lease_until`` at most (renewed by :func:`renew` between a sync's pages). A run
found ``running`` under a live claim is not taken: a second live delivery of the
same message defers (``Begun.busy``) instead of calling the provider twice. Every
later write of an execution names its number and applies only while the run is
still that execution's and not final (worker.ledger.runs), so a late write — the
outbox, a stale execution, the lost-run sweep — can never reopen a finished run or
undo a newer execution's write. A final status leaves final only through a
replay, which is a new run.
"""

from __future__ import annotations

from typing import Any

from psycopg.errors import UniqueViolation
from psycopg.types.json import Jsonb

from worker.ledger.db import LedgerUnavailable, driver_cursor
from worker.ledger.models import FINAL_STATUSES
from worker.ledger.refs import Begun, Claim, Holder, RunRef, ref_columns
from worker.ledger.runs import NOT_FINAL


def begin(ref: RunRef, *, lease_seconds: float, released: str | None = None) -> Begun:
    """Claim the run for a new execution; report what came before and who holds its key.

    ``released``: an executor known to be gone (its worker stopped beating, or it is this
    process and no longer runs the call), whose claim may be taken before its lease ends.
    """
    for _ in range(3):
        try:
            # Autocommit is enough: the unique key index settles races for a key.
            with driver_cursor() as cursor:
                return _begin(cursor, ref, lease_seconds, released)
        except UniqueViolation:
            continue  # another run claimed the same idempotency key first: look again
    raise LedgerUnavailable("could not claim the idempotency key (contention)")


# The hottest statement of the fleet, written out and run on the driver's cursor
# (worker.ledger.db.driver_cursor): built with the SQL expression language it cost
# ~2 ms of CPU per run, as text through SQLAlchemy still several times what it
# costs here. psycopg prepares it on the server after a few runs.
_BEGIN = f"""
    INSERT INTO tool_runs AS r (id, tool, queue, params, agent_task_id, step_id, requested_key,
                                status, worker, started_at, updated_at, idempotency_key,
                                duplicate_of, execution, executor, lease_until)
    VALUES (%(id)s, %(tool)s, %(queue)s, %(params)s, %(agent_task_id)s, %(step_id)s,
            %(requested_key)s, 'running', %(worker)s, now(), now(), %(idempotency_key)s,
            %(duplicate_of)s, 1, %(executor)s, now() + %(lease)s * interval '1 second')
    ON CONFLICT (id) DO UPDATE SET
        status = 'running',
        execution = r.execution + 1,
        executor = EXCLUDED.executor,
        lease_until = EXCLUDED.lease_until,
        queue = coalesce(EXCLUDED.queue, r.queue),  -- where it runs (forwarded: not where sent)
        worker = EXCLUDED.worker,
        updated_at = now(),
        started_at = coalesce(r.started_at, now()),
        params = coalesce(r.params, EXCLUDED.params),
        requested_key = coalesce(r.requested_key, EXCLUDED.requested_key),
        idempotency_key = EXCLUDED.idempotency_key,
        duplicate_of = EXCLUDED.duplicate_of,
        -- found `running`: the execution that set it never finished (its worker died)
        redeliveries = r.redeliveries + CASE WHEN r.status = 'running' THEN 1 ELSE 0 END,
        maybe_written = r.maybe_written OR r.status = 'running'
    WHERE {NOT_FINAL}
      AND (r.status <> 'running' OR r.lease_until IS NULL OR r.lease_until < now()
           OR r.executor = %(released)s)
    RETURNING execution, attempts, parks, redeliveries, started_at, error, maybe_written
"""  # noqa: S608 — built from module constants only
_CURRENT = "SELECT * FROM tool_runs WHERE id = %(id)s"


def _begin(cursor: Any, ref: RunRef, lease_seconds: float, released: str | None) -> Begun:
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
            "executor": ref.executor,
            "lease": lease_seconds,
            "released": released,
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
            execution=row["execution"],
            maybe_written=row["maybe_written"],
        )
    # Not claimed: the run has ended (answer from what was recorded), or another
    # execution holds a live claim on it.
    current = cursor.execute(_CURRENT, {"id": ref.run_id}).fetchone()
    return Begun(
        current["status"] if current["status"] in FINAL_STATUSES else None,
        current["attempts"],
        current["parks"],
        current["redeliveries"],
        current["started_at"],
        finished_at=current["finished_at"],
        result=current["result"],
        error=current["error"],
        execution=current["execution"],
        busy=None
        if current["status"] in FINAL_STATUSES
        else Claim(current["executor"], current["lease_until"]),
    )


_KEY_HOLDER = """
    SELECT id, status, result, error FROM tool_runs
    WHERE idempotency_key = %(key)s AND id <> %(id)s
"""


def _key_holder(cursor: Any, ref: RunRef) -> Holder | None:
    """The other run that owns ``ref``'s idempotency key, if any."""
    found = cursor.execute(_KEY_HOLDER, {"key": ref.idempotency_key, "id": ref.run_id}).fetchone()
    return Holder(found["id"], found["status"], found["result"], found["error"]) if found else None


def renew(run_id: str, execution: int, lease_seconds: float) -> bool:
    """Extend a live execution's claim (a sync between pages); False if it is no longer
    this execution's."""
    with driver_cursor() as cursor:
        row = cursor.execute(
            _RENEW, {"id": run_id, "execution": execution, "lease": lease_seconds}
        ).fetchone()
    return row is not None


_RENEW = """
    UPDATE tool_runs AS r SET lease_until = now() + %(lease)s * interval '1 second'
    WHERE id = %(id)s AND execution = %(execution)s AND status = 'running'
    RETURNING id
"""

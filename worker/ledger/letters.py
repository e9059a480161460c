"""Dead letters: burying a run (its final row plus a letter), unreadable messages, resolving.

A letter keeps what is needed to understand and replay the call: tool,
queue, params, correlation headers, the classified error and a traceback
(stack only: never an SDK exception's text). Everything is redacted on the
way in. Resolving a letter (replayed or discarded) keeps it for the record.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import and_, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from worker.ledger.announce import EVENT_COLUMNS, announce
from worker.ledger.db import transaction
from worker.ledger.history import entry, error_summary, with_entry
from worker.ledger.models import DeadLetter, LetterState, RunStatus
from worker.ledger.refs import RunRef, ref_columns
from worker.ledger.runs import RUNS, fenced, now, stale, unchanged_since, update_run
from worker.redact import redact, redact_json

T = TypeVar("T")
LETTERS = DeadLetter.__table__


def bury(
    ref: RunRef,
    error: dict[str, Any],
    *,
    traceback: str | None = None,
    headers: dict[str, Any] | None = None,
    attempted: bool = True,
    raw_message: str | None = None,
    attempt: int | None = None,
    started_at: datetime | str | None = None,
    status: RunStatus = RunStatus.DEAD,
    execution: int | None = None,
    read: dict[str, Any] | None = None,
) -> int | None:
    """The run is dead: its row's final state plus a dead letter (returns the letter id);
    once both are committed, its completion event.

    Fenced like every write of a run (worker.ledger.runs): ``execution``, the burying
    execution's number (None: a message that never ran, from the intake); ``read``, the
    row as the caller read it, when the decision was made from that (the lost-run
    sweep). A run already final, or moved on since, is left alone: None, no letter."""
    guard = unchanged_since(read) if read is not None else fenced(execution)
    outcome: dict[str, Any] = {"error": error_summary(error)}
    if attempted:
        outcome |= {"attempt": attempt, "started_at": started_at}
    with transaction() as conn:
        stmt = pg_insert(RUNS).values(
            **ref_columns(ref),
            worker=ref.worker,
            status=status,
            error=redact_json(error),
            attempts=int(attempted),
            finished_at=now(),
            history=[entry(status.value, **outcome)],
        )
        row = (
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["id"],
                    set_={
                        "status": status,
                        "error": stmt.excluded.error,
                        "attempts": RUNS.c.attempts + int(attempted),
                        "finished_at": now(),
                        "updated_at": now(),
                        "next_attempt_at": None,
                        "history": with_entry(status.value, **outcome),
                    },
                    where=and_(*guard),
                ).returning(*EVENT_COLUMNS)
            )
            .mappings()
            .first()
        )
        if row is None:
            stale(ref.run_id, read["execution"] if read else execution, status.value)
            return None
        letter_id = conn.execute(
            insert(LETTERS)
            .values(
                run_id=ref.run_id,
                tool=ref.tool,
                queue=ref.queue,
                params=redact_json(ref.params),
                headers=redact_json(headers),
                error=redact_json(error),
                traceback=redact(traceback) if traceback else None,
                raw_message=redact(raw_message) if raw_message else None,
            )
            .returning(LETTERS.c.id)
        ).scalar_one()
    announce(row, redact_json(error))
    return letter_id


def bury_lost(run: dict[str, Any], error: dict[str, Any]) -> int | None:
    """A run whose message the broker lost and that cannot be sent again as stored:
    ``lost``, with a dead letter to replay it from (returns the letter id), unless the
    run changed since ``run`` was read (it was running again, or finished): None."""
    ref = RunRef(
        run_id=run["id"],
        tool=run["tool"],
        queue=run["queue"],
        params=run["params"],
        idempotency_key=run.get("requested_key"),
        agent_task_id=run.get("agent_task_id"),
        step_id=run.get("step_id"),
    )
    headers = {k: v for k, v in (("idempotency_key", ref.idempotency_key),
               ("agent_task_id", ref.agent_task_id), ("step_id", ref.step_id)) if v}  # fmt: skip
    return bury(ref, error, headers=headers, attempted=False, status=RunStatus.LOST, read=run)


def bury_message(raw_message: str, error: dict[str, Any], *, queue: str | None) -> int:
    """A message too broken to be a run (not an envelope, not JSON): keep its bytes."""
    with transaction() as conn:
        return conn.execute(
            insert(LETTERS)
            .values(queue=queue, error=redact_json(error), raw_message=redact(raw_message))
            .returning(LETTERS.c.id)
        ).scalar_one()


def resolve_letter(
    letter_id: int,
    state: LetterState,
    *,
    replay: RunRef | None = None,
    then: Callable[[], T] | None = None,
) -> T | None:
    """Mark a dead letter replayed (as ``replay``) or discarded, atomically with ``then``.

    ``then`` (the publish) runs inside the transaction: if it fails, the letter
    stays ``dead``. The dead run lets go of its idempotency key so the
    replaying run can claim it: later duplicates follow the newest attempt.
    """
    with transaction() as conn:
        letter = conn.execute(
            select(LETTERS).where(LETTERS.c.id == letter_id).with_for_update()
        ).first()
        if letter is None:
            raise LookupError(f"no dead letter {letter_id}")
        if letter.state != LetterState.DEAD:
            raise ValueError(f"dead letter {letter_id} is already {letter.state}")
        if replay is not None and letter.run_id:
            # The replaying run claims the key when it starts.
            update_run(conn, letter.run_id, idempotency_key=None)
        conn.execute(
            update(LETTERS)
            .where(LETTERS.c.id == letter_id)
            .values(
                state=state,
                resolved_at=now(),
                replayed_as=replay.run_id if replay else None,
            )
        )
        return then() if then else None


def get_letter(letter_id: int) -> dict[str, Any] | None:
    with transaction(atomic=False) as conn:
        row = conn.execute(select(LETTERS).where(LETTERS.c.id == letter_id)).mappings().first()
        return dict(row) if row else None


def list_letters(
    *,
    state: str | None = None,
    tool: str | None = None,
    since: datetime | None = None,
    limit: int = 20,
    oldest_first: bool = False,
) -> list[dict[str, Any]]:
    """Dead letters, newest first (or oldest first), filtered by state, tool and age."""
    order = LETTERS.c.dead_at.asc() if oldest_first else LETTERS.c.dead_at.desc()
    query = select(LETTERS).order_by(order).limit(limit)
    if state:
        query = query.where(LETTERS.c.state == state)
    if tool:
        query = query.where(LETTERS.c.tool == tool)
    if since is not None:
        query = query.where(LETTERS.c.dead_at >= since)
    with transaction(atomic=False) as conn:
        return [dict(row) for row in conn.execute(query).mappings()]

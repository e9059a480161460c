"""Ledger writes that could not reach Postgres, kept in Redis until they can.

A provider call that already happened must not lose its record because the
database blinked: the policy's final writes go through :func:`write`, which
falls back to a Redis list when the ledger is unavailable. :func:`drain`
applies the kept writes in order once Postgres answers again; it runs when a
worker starts and periodically from beat (``fleet.drain_outbox``).

A kept write may be applied late, after writes made directly once Postgres
came back: every write is fenced by its execution (worker.ledger.runs), so
a late one that a newer execution or a final status has overtaken is
dropped, never applied over it. Drains never overlap (a lock in Redis), and
an entry leaves the list only once it has been applied (a drainer that dies
mid-way leaves it for the next, which applies it again: a no-op the second
time). An entry that fails for any reason but an outage is moved aside to
:data:`FAILED_KEY`, whole, for an operator, instead of blocking the rest.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from worker.fleet_redis import fleet_redis
from worker.ledger import letters, runs
from worker.ledger.db import LedgerUnavailable
from worker.ledger.refs import Holder, RunRef
from worker.redact import redact_json

logger = logging.getLogger(__name__)
OUTBOX_KEY = "fleet:ledger:outbox"
FAILED_KEY = "fleet:ledger:outbox:failed"
DRAIN_LOCK = "fleet:ledger:outbox:draining"
DRAIN_LOCK_SECONDS = 60


def _bury(ref: dict[str, Any], **kwargs: Any) -> Any:
    return letters.bury(RunRef(**ref), **kwargs)


def _copy_outcome(run_id: str, holder: dict[str, Any], **kwargs: Any) -> Any:
    return runs.copy_outcome(run_id, Holder(**holder), **kwargs)


OPERATIONS: dict[str, Callable[..., Any]] = {
    "succeed": runs.succeed,
    "schedule_retry": runs.schedule_retry,
    "bury": _bury,
    "copy_outcome": _copy_outcome,
}


def write(op: str, **kwargs: Any) -> Any:
    """Apply a ledger write now, or keep it for later if Postgres is unavailable."""
    kwargs = {k: asdict(v) if isinstance(v, RunRef | Holder) else v for k, v in kwargs.items()}
    try:
        return OPERATIONS[op](**kwargs)
    except LedgerUnavailable as exc:
        keep(op, **kwargs)
        logger.warning("ledger write %s kept in the outbox until Postgres is back: %s", op, exc)
        return redact_json(kwargs.get("result")) if op == "succeed" else None


def keep(op: str, **kwargs: Any) -> None:
    """Keep a ledger write in the outbox (``kwargs`` as :func:`write` takes them, in JSON)."""
    entry = {"id": uuid.uuid4().hex, "op": op, "kwargs": redact_json(kwargs)}
    fleet_redis().rpush(OUTBOX_KEY, json.dumps(entry, default=str))


def length() -> int:
    """Ledger writes waiting for Postgres."""
    return int(fleet_redis().llen(OUTBOX_KEY))


def failed() -> int:
    """Kept writes that could not be applied (not an outage): set aside for an operator."""
    return int(fleet_redis().llen(FAILED_KEY))


def drain(limit: int = 10_000) -> int:
    """Apply kept writes in order; stops (keeping the rest) if Postgres is still down.
    Returns how many were applied; 0 at once if another drain is under way."""
    client = fleet_redis()
    lock = client.lock(DRAIN_LOCK, timeout=DRAIN_LOCK_SECONDS, blocking=False)
    if not lock.acquire():
        return 0
    applied = handled = 0
    try:
        while handled < limit:
            raw = client.lindex(OUTBOX_KEY, 0)
            if raw is None:
                break
            try:
                _apply(raw)
                applied += 1
            except LedgerUnavailable:
                break  # still down: the entry stays at the head, order is kept
            except Exception:
                logger.exception("a kept ledger write could not be applied; set aside")
                client.rpush(FAILED_KEY, raw)
            # Exactly this entry (ids are unique): whatever a stalled drainer whose lock
            # expired does meanwhile, nothing unapplied is removed.
            client.lrem(OUTBOX_KEY, 1, raw)
            handled += 1
            if handled % 100 == 0:
                lock.reacquire()  # a long drain keeps its lock
    finally:
        if lock.owned():
            lock.release()
    if applied:
        logger.info("applied %d ledger writes from the outbox", applied)
    return applied


def _apply(raw: bytes | str) -> None:
    entry = json.loads(raw)
    OPERATIONS[entry["op"]](**entry["kwargs"])

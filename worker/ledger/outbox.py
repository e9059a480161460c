"""Ledger writes that could not reach Postgres, kept in Redis until they can.

A provider call that already happened must not lose its record because the
database blinked: the policy's final writes go through :func:`write`, which
falls back to a Redis list when the ledger is unavailable. :func:`drain`
applies the kept writes in order once Postgres answers again; it runs when a
worker starts and periodically from beat (``fleet.drain_outbox``).
"""

from __future__ import annotations

import json
import logging
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


def _bury(ref: dict[str, Any], **kwargs: Any) -> Any:
    return letters.bury(RunRef(**ref), **kwargs)


def _copy_outcome(run_id: str, holder: dict[str, Any]) -> Any:
    return runs.copy_outcome(run_id, Holder(**holder))


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
        entry = json.dumps({"op": op, "kwargs": redact_json(kwargs)}, default=str)
        fleet_redis().rpush(OUTBOX_KEY, entry)
        logger.warning("ledger write %s kept in the outbox until Postgres is back: %s", op, exc)
        return redact_json(kwargs.get("result")) if op == "succeed" else None


def length() -> int:
    """Ledger writes waiting for Postgres."""
    return int(fleet_redis().llen(OUTBOX_KEY))


def drain(limit: int = 10_000) -> int:
    """Apply kept writes in order; stops (keeping the rest) if Postgres is still down."""
    applied = 0
    client = fleet_redis()
    while applied < limit:
        raw = client.lpop(OUTBOX_KEY)
        if raw is None:
            break
        entry = json.loads(raw)
        try:
            OPERATIONS[entry["op"]](**entry["kwargs"])
        except LedgerUnavailable:
            client.lpush(OUTBOX_KEY, raw)  # back at the head: order is kept
            break
        applied += 1
    if applied:
        logger.info("applied %d ledger writes from the outbox", applied)
    return applied

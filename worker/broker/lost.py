"""Runs whose messages the broker lost: found from the ledger, published again.

Redis without persistence loses everything on a restart, and even with AOF
a crash can drop the last second. The ledger still knows every run that is
``queued``, ``retrying`` or ``parked``; :func:`sweep` (beat runs it as
``fleet.recover_lost``) looks for each such run not touched for
``FLEET_LOST_GRACE_SECONDS`` in every place a message can be — the queues
(every priority list), kombu's unacknowledged hash and the delayed set — and
for each one found nowhere:

- publishes it again with the same run id, tool, params and correlation
  headers (the run's history says ``republished``), or
- when its params were masked for secrecy (they cannot be sent again as
  stored), marks it ``lost`` with a dead letter saying so, which an operator
  replays with corrected params (``fleet dlq replay ID --params``).

Reading every message costs one pass over the queues; the sweep is for
recovery, run every minute, not per call.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

logger = logging.getLogger(__name__)
SWEEP_LOCK = "fleet:lost:sweeping"
SWEEP_LOCK_SECONDS = 300
RESCAN_SECONDS = 0.5


def sweep(app: Any, *, grace_seconds: float, limit: int = 1000) -> dict[str, int]:
    """Publish again (or bury as lost) every stale waiting run the broker no longer
    holds; returns ``{"checked", "republished", "lost"}``. One sweep at a time across
    the fleet (a lock in Redis): a slow sweep overlapping the next would bury twice."""
    from worker.fleet_redis import fleet_redis

    lock = fleet_redis().lock(SWEEP_LOCK, timeout=SWEEP_LOCK_SECONDS, blocking=False)
    if not lock.acquire():
        return {"checked": 0, "republished": 0, "lost": 0}
    try:
        return _sweep(app, grace_seconds, limit)
    finally:
        with contextlib.suppress(Exception):  # expired meanwhile: nothing to release
            lock.release()


def _sweep(app: Any, grace_seconds: float, limit: int) -> dict[str, int]:
    from worker import ledger
    from worker.errors import Fatal
    from worker.redact import masked_fields
    from worker.runtime import telemetry

    candidates = ledger.stale_waiting_runs(grace_seconds, limit)
    if not candidates:
        return {"checked": 0, "republished": 0, "lost": 0}
    # Twice, a moment apart: a message a worker has just popped is in no list until
    # kombu records it as unacknowledged, a moment later.
    held = held_run_ids(app)
    time.sleep(RESCAN_SECONDS)
    held |= held_run_ids(app)
    republished = lost = 0
    for run in candidates:
        if run["id"] in held:
            continue
        masked = masked_fields(run["params"] or {})
        if masked:
            error = Fatal(
                "lost: the broker lost this run's message, and its params were masked for "
                f"secrecy when recorded ({', '.join(masked)}): replay it with corrected params "
                "(`fleet dlq replay ID --params ...`, a named credential instead of the secret)"
            )
            if ledger.bury_lost(run, error.to_dict()):
                lost += 1
            continue
        if ledger.mark_republished(run):  # only if still untouched: nobody else took it
            _publish(app, run)
            republished += 1
    telemetry.broker_lost("republished", republished)
    telemetry.broker_lost("lost", lost)
    if republished or lost:
        logger.warning(
            "the broker had lost %d run(s): %d published again, %d marked lost",
            republished + lost, republished, lost,
        )  # fmt: skip
    return {"checked": len(candidates), "republished": republished, "lost": lost}


def held_run_ids(app: Any) -> set[str]:
    """The task ids of every message the broker holds: queued, unacknowledged, delayed."""
    from worker.broker.delayed import DELAYED_KEY
    from worker.queues import WATCHED_QUEUES

    ids: set[str] = set()
    with app.connection_for_read() as conn:
        channel = conn.default_channel
        client = channel.client
        for queue in WATCHED_QUEUES:
            for step in channel.priority_steps:
                ids.update(_ids(client.lrange(channel._q_for_pri(queue, step), 0, -1)))
        unacked = (json.loads(raw)[0] for raw in client.hvals(channel.unacked_key))
        ids.update(_ids(json.dumps(message) for message in unacked))
        delayed = (json.loads(member)[1] for member in client.zrange(DELAYED_KEY, 0, -1))
        ids.update(_ids(delayed))
    return ids


def _ids(payloads: Any) -> Iterator[str]:
    for payload in payloads:
        try:
            run_id = (json.loads(payload).get("headers") or {}).get("id")
        except (ValueError, AttributeError):
            continue  # garbage on a queue: the intake's business
        if run_id:
            yield str(run_id)


def _publish(app: Any, run: dict[str, Any]) -> None:
    headers = {k: run[k] for k in ("agent_task_id", "step_id") if run.get(k)}
    key = run.get("requested_key") or run.get("idempotency_key")
    if key:  # the key the call asked for travels again
        headers["idempotency_key"] = key
    app.send_task(run["tool"], kwargs=run["params"] or {}, task_id=run["id"], headers=headers)

"""The fleet at a glance, for ``fleet status``: workers, queues, runs, dead letters, outbox.

Each source is read on its own, so one that cannot be read (Redis, Postgres,
the workers' control ping) is reported in ``unreadable`` while the others
are still shown: a status screen is most needed when something is down.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from worker.queues import WATCHED_QUEUES


def fleet_status(app: Any, *, minutes: float, ping_timeout: float = 1.0) -> dict[str, Any]:
    """Everything ``fleet status`` shows, as plain data (its ``--json``)."""
    unreadable: dict[str, str] = {}

    def read(source: str, reader: Callable[[], Any], empty: Any) -> Any:
        try:
            return reader()
        except Exception as exc:  # noqa: BLE001 — shown as unreadable, the rest still shown
            unreadable[source] = f"{type(exc).__name__}: {exc}"
            return empty

    from worker.ledger import outbox, stats
    from worker.ops.inspect import queue_depths, workers_by_queue

    consumers = read("workers", lambda: workers_by_queue(app, timeout=ping_timeout), {})
    depths = read("redis", lambda: queue_depths(app), {})
    workers: dict[str, list[str]] = {}
    for queue, names in consumers.items():
        for name in names:
            workers.setdefault(name, []).append(queue)
    return {
        "workers": {name: sorted(queues) for name, queues in sorted(workers.items())},
        "queues": [
            {
                "queue": queue,
                "depth": depths.get(queue),
                "workers": len(consumers[queue]) if "workers" not in unreadable else None,
            }
            for queue in WATCHED_QUEUES
        ],
        "runs": {
            "minutes": minutes,
            "by_status": read("postgres", lambda: stats.recent_runs(minutes), {}),
        },
        "in_flight": read("postgres", stats.active_runs, {}),
        "dead_letters_waiting": read("postgres", lambda: stats.letters_by_state()["dead"], None),
        "outbox": read("redis", outbox.length, None),
        "outbox_failed": read("redis", outbox.failed, None),
        "delayed": read("redis", _delayed, None),
        "broker_lost": read("redis", _broker_lost, None),
        "circuits_open": read("redis", _open_circuits, {}),
        "unreadable": unreadable,
    }


def _delayed() -> dict[str, Any]:
    """Retries and parks waiting for their time (worker.broker.delayed), due in seconds."""
    import time

    from worker.broker.delayed import waiting
    from worker.fleet_redis import fleet_redis

    found = waiting(fleet_redis())
    for key in ("next_due", "last_due"):
        if found[key] is not None:
            found[key] = round(found[key] - time.time(), 1)
    return {"count": found["count"], "next_in": found["next_due"], "last_in": found["last_due"]}


def _broker_lost() -> dict[str, int]:
    """Runs the broker lost so far (worker.broker.lost), by what was done about them."""
    from worker.fleet_redis import fleet_redis
    from worker.runtime.telemetry import METRICS_KEY, field

    outcomes = ("republished", "lost")
    fields = [field("toolfleet_lost_runs_total", outcome) for outcome in outcomes]
    counts = fleet_redis().hmget(METRICS_KEY, fields)
    return {o: int(float(c or 0)) for o, c in zip(outcomes, counts, strict=True)}


def _open_circuits() -> dict[str, str]:
    from worker.fleet_redis import fleet_redis
    from worker.runtime.governor.state import fleet_snapshot

    circuits = fleet_snapshot(fleet_redis())["circuits"]
    return {name: c["state"] for name, c in circuits.items() if c["state"] != "closed"}

"""The periodic work beat drives, declared from configuration.

Each entry names a task (by name, routed like any other) and its schedule:
the ledger outbox drain, and every configured sync (``FLEET_SYNCS`` /
``FLEET_SYNCS_FILE``, validated by worker.syncs.config: a bad entry stops
beat, and every other process, at start with a message naming it).
"""

from __future__ import annotations

from typing import Any

from worker.settings import Settings
from worker.syncs.config import load_entries


def build_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Celery's ``beat_schedule`` for these settings."""
    schedule: dict[str, dict[str, Any]] = {
        # Ledger writes kept in Redis during a Postgres outage are applied here.
        "drain-ledger-outbox": {"task": "fleet.drain_outbox", "schedule": 30.0},
        # Waiting runs whose messages Redis lost (a restart without persistence).
        "recover-lost-runs": {
            "task": "fleet.recover_lost",
            "schedule": settings.lost_check_seconds,
        },
    }
    for name, entry in load_entries(settings).items():
        schedule[f"sync:{name}"] = {
            "task": entry.task,
            "schedule": entry.schedule(),
            "kwargs": {"sync": name},
        }
    return schedule

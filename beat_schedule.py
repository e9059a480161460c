"""The periodic work beat drives, declared from configuration.

Each entry names a task (by name, routed like any other) and its schedule.
Incremental provider syncs are declared here as they are added; a sync that
has no credentials configured is simply left out.
"""

from __future__ import annotations

from typing import Any

from worker.settings import Settings


def build_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Celery's ``beat_schedule`` for these settings."""
    schedule: dict[str, dict[str, Any]] = {
        # Ledger writes kept in Redis during a Postgres outage are applied here.
        "drain-ledger-outbox": {"task": "fleet.drain_outbox", "schedule": 30.0},
    }
    return schedule

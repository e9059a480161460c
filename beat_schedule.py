"""The periodic work beat drives, declared from configuration.

Each entry names a task (by name, routed like any other) and its schedule:
the ledger outbox drain, and every configured sync (``FLEET_SYNCS`` /
``FLEET_SYNCS_FILE``, validated by worker.syncs.config: a bad entry stops
beat, and every other process, at start with a message naming it).

A sync beat has never sent is due at once (its schedule entry's last run is
"never", not "now"): a fleet just started brings its data in within seconds,
not after a first interval. Beat's schedule lives in Redis (celery-redbeat),
so a restarted or standby beat keeps the last run it finds there and sends
nothing twice. When beat starts it also records each sync's definition in the
ledger (``sync_state.definition``), so `fleet syncs` in a shell without this
configuration still lists and describes the syncs the running fleet has.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime
from typing import Any

from celery import signals

from worker.settings import Settings, get_settings
from worker.syncs.config import load_entries

logger = logging.getLogger(__name__)
# The last run of a sync beat has never sent: long enough ago for any schedule to be due.
NEVER = datetime(2000, 1, 1, tzinfo=UTC)


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
            # Used only for an entry new to beat's schedule (a known one keeps its own).
            "last_run_at": NEVER,
        }
    return schedule


def record_definitions(**_: Any) -> None:
    """At beat start: each configured sync's definition into its ``sync_state`` row.
    Never stops beat: an unreachable ledger only leaves other shells less informed."""
    from worker.syncs import store

    by = f"beat on {socket.gethostname()} (pid {os.getpid()})"
    at = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        store.record_definitions(
            {
                name: {**entry.definition(), "recorded_by": by, "recorded_at": at}
                for name, entry in load_entries(get_settings()).items()
            }
        )
    except Exception as exc:  # noqa: BLE001 — beat schedules without it
        logger.warning("sync definitions not recorded in the ledger: %s", exc)


signals.beat_init.connect(record_definitions, weak=False, dispatch_uid="toolfleet.sync_defs")

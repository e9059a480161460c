"""The fleet's own periodic tasks (routed to the ``syncs`` queue by their ``fleet.`` prefix).

Plain functions: the app registers each as a Celery task wherever it loads
(workers, beat, publishers), so every process knows these are housekeeping,
not tool calls, and writes no run rows for them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def drain_outbox() -> int:
    """Apply ledger writes kept in Redis while Postgres was unavailable."""
    from worker.ledger import outbox  # the ledger's tables: only where this runs

    return outbox.drain()


def recover_lost() -> dict[str, int]:
    """Publish again the waiting runs whose messages the broker lost (worker.broker.lost)."""
    from celery import current_app

    from worker.broker.lost import sweep
    from worker.settings import get_settings

    return sweep(current_app, grace_seconds=get_settings().lost_grace_seconds)


TASKS: dict[str, Callable[..., Any]] = {
    "fleet.drain_outbox": drain_outbox,
    "fleet.recover_lost": recover_lost,
}

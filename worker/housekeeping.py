"""The fleet's own periodic tasks (routed to the ``syncs`` queue by their ``fleet.`` prefix)."""

from __future__ import annotations

from worker import outbox
from worker.app import app


@app.task(name="fleet.drain_outbox", ignore_result=True)
def drain_outbox() -> int:
    """Apply ledger writes kept in Redis while Postgres was unavailable."""
    return outbox.drain()

"""One sync run under the tool policy: claim, then page after page until caught up.

Each sync kind becomes a task ``sync.<kind>`` (params ``{"sync": name,
"full": false}``, on the ``syncs`` queue) run by the one tool policy, so a
sync run is a ledger run like any call: the governor admits its first page,
:func:`worker.runtime.context.pace` admits each further one (a rate limit
mid-sync parks the run; it resumes from its checkpoint), provider errors are
classified and retried, and what never succeeds is a dead letter.

A run that finds its sync held by another live run returns
``{"skipped": true}`` at once (counted in ``sync_state.skipped_runs``).
Failed attempts are counted; ``FLEET_SYNC_FAILURES_ALERT`` in a row flag
the sync (logged, and shown by ``fleet syncs``).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, Field

from worker.errors import BadParams, ToolError, Unavailable
from worker.ledger import LedgerUnavailable
from worker.runtime.catalog import ToolSpec
from worker.runtime.context import ParkRequest, current_call, pace
from worker.runtime.params import params_config
from worker.settings import get_settings
from worker.syncs import store
from worker.syncs.config import SyncEntry, load_entries
from worker.syncs.kinds import SyncKind

logger = logging.getLogger(__name__)


class SyncRun(BaseModel):
    """Params of every ``sync.<kind>`` task."""

    sync: str = Field(min_length=1, max_length=128, description="The configured sync's name.")
    full: bool = Field(default=False, description="Forget the cursor: read everything again.")
    model_config = params_config({"sync": "hello-issues"})


def sync_spec(kind: SyncKind) -> ToolSpec:
    """The task spec running syncs of ``kind`` (registered by the app, not an agent tool)."""

    def run(client: Any, params: SyncRun) -> dict[str, Any]:
        return run_sync(kind, client, params)

    return ToolSpec(
        name=f"sync.{kind.name}",
        provider=kind.provider,
        func=run,
        params_model=SyncRun,
        description=kind.description,
        writes=False,
        destructive=False,
        idempotent=True,
        scopes=kind.scopes,
        max_attempts=None,
    )


@lru_cache(maxsize=1)
def configured() -> dict[str, SyncEntry]:
    """This process's syncs (its settings are read once, so are they)."""
    return load_entries(get_settings())


def run_sync(kind: SyncKind, client: Any, params: SyncRun) -> dict[str, Any]:
    settings = get_settings()
    entry = configured().get(params.sync)
    if entry is None or entry.kind is not kind:
        raise BadParams(f"no {kind.name} sync named {params.sync!r} is configured")
    call = current_call()
    run_id, execution = call.run_id, call.execution
    taken = store.claim(
        entry.name,
        kind.name,
        entry.target,
        run_id,
        execution=execution,
        lease=settings.sync_lease_seconds,
        full=params.full,
    )
    if taken is None:
        return {"sync": entry.name, "skipped": True, "running": store.holder(entry.name)}
    claim = _resume(kind, taken, settings.sync_lookback_seconds)
    try:
        _pages(entry, run_id, execution, client, claim, settings.sync_lease_seconds)
    except ParkRequest:
        raise
    except store.LeaseLost:  # parked past its lease; the run that took over goes on
        return {"sync": entry.name, "skipped": True, "running": store.holder(entry.name)}
    except LedgerUnavailable as exc:  # nothing recorded, nothing lost: try again later
        raise Unavailable(str(exc)) from None
    except Exception as exc:
        _record_failure(entry, run_id, execution, exc, settings.sync_failures_alert)
        raise
    return {"sync": entry.name, "since": claim.since, "cursor": claim.high_water, **claim.counts}


def _resume(kind: SyncKind, taken: tuple[str | None, Any], lookback: float) -> store.Claim:
    """Where this execution starts: the checkpoint of a run in progress, or the cursor
    moved back by the lookback window (late updates, clock skew)."""
    cursor, checkpoint = taken
    full_run = (checkpoint or {}).get("full_run")
    if checkpoint and "token" in checkpoint:
        return store.Claim(
            since=checkpoint["since"],
            token=checkpoint["token"],
            high_water=checkpoint["high_water"],
            counts=checkpoint["counts"],
            full_run=full_run,
        )
    since = kind.rewind(cursor, lookback) if cursor else None
    return store.Claim(since=since, token=None, high_water=cursor, full_run=full_run)


def _pages(
    entry: SyncEntry, run_id: str, execution: int, client: Any, claim: store.Claim, lease: float
) -> None:
    kind, first = entry.kind, True
    while True:
        if not first:
            pace()  # the governor admits each further page, or the run parks here
        first = False
        page = kind.fetch(client, entry.config, claim.since, claim.token)
        store.commit_page(
            entry.name, kind.provider.name, kind.name, run_id, execution, page, claim, lease=lease
        )
        if page.next_token is None:
            return


def _record_failure(
    entry: SyncEntry, run_id: str, execution: int, exc: Exception, alert: int
) -> None:
    error = exc if isinstance(exc, ToolError) else entry.kind.provider.map_error(exc)
    in_a_row = store.record_failure(entry.name, run_id, execution, error.to_dict())
    if in_a_row >= alert:
        logger.warning(
            "sync %s is failing: %d attempts in a row (%s)", entry.name, in_a_row, error.message
        )

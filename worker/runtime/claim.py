"""Step 1 of the policy: claim the run for this execution (worker.ledger.claims).

The ledger takes the claim by compare-and-set. A claim another execution holds
is taken over only when that execution cannot still be running: its worker
process stopped beating, or it is this process and no longer runs the call.
Otherwise this delivery waits (:class:`ParkRequest`, not recorded: the run is
not this execution's to write) and looks again soon; the holder's lease bounds
the wait. Without the ledger nothing can be recorded: the delivery waits too.
"""

from __future__ import annotations

import logging
import os

from worker import ledger
from worker.broker import recovery
from worker.ledger import Begun, LedgerUnavailable, RunRef
from worker.runtime.context import ParkRequest
from worker.settings import Settings, get_settings

logger = logging.getLogger(__name__)

BUSY_PARK_SECONDS = 2.0  # another live execution holds the run: look again this soon
LEASE_MARGIN_SECONDS = 30.0  # a claim outlives its call's deadline by this much
PROCESS_SEPARATOR = "#"  # in no heartbeat name (host:pid:hex)

# Runs this process is executing now: a claim naming this process on a run not in
# here was left by an execution that is over (its write never landed).
_executing: set[str] = set()


def claim(ref: RunRef, unavailable_wait: float) -> Begun:
    """The run claimed for this execution, or :class:`ParkRequest` (not to be recorded).
    ``unavailable_wait``: how long to wait when the ledger cannot be reached."""
    lease = lease_seconds(get_settings())
    try:
        begun = ledger.begin(ref, lease_seconds=lease)
        if begun.busy is not None and not _alive(ref.run_id, begun.busy.executor):
            begun = ledger.begin(ref, lease_seconds=lease, released=begun.busy.executor)
    except LedgerUnavailable as exc:
        logger.warning("%s[%s] parked: %s", ref.tool, ref.run_id, exc)
        raise ParkRequest(unavailable_wait, "ledger unavailable") from None
    if begun.busy is not None:
        holder = f"execution {begun.execution} on {begun.busy.executor or 'another worker'}"
        logger.info("%s[%s] is running already (%s): parked", ref.tool, ref.run_id, holder)
        raise ParkRequest(BUSY_PARK_SECONDS, f"running already: {holder}")
    _executing.add(ref.run_id)
    return begun


def release(run_id: str) -> None:
    """This process no longer executes ``run_id`` (whatever its row says)."""
    _executing.discard(run_id)


def renew(run_id: str, execution: int) -> None:
    """Hold the claim longer: an execution making one more provider call (a sync's page)."""
    ledger.renew(run_id, execution, lease_seconds(get_settings()))


def lease_seconds(settings: Settings) -> float:
    """How long an execution's claim holds without renewal: past its call's deadline."""
    return settings.provider_deadline_seconds + LEASE_MARGIN_SECONDS


def executor() -> str | None:
    """Who executes here: the worker's heartbeat name and this process (a prefork pool's
    children share their worker's name), or None outside a tracked worker."""
    worker = recovery.identity()
    return f"{worker}{PROCESS_SEPARATOR}{os.getpid()}" if worker else None


def _alive(run_id: str, holder: str | None) -> bool:
    """Whether the execution holding a claim can still be running."""
    if holder is None:
        return True  # no name to check: its lease decides
    worker, _, pid = holder.rpartition(PROCESS_SEPARATOR)
    if worker == recovery.identity():  # this worker: this process knows, a sibling may run
        return run_id in _executing if pid == str(os.getpid()) else True
    from worker.fleet_redis import fleet_redis

    timeout = get_settings().heartbeat_timeout_seconds
    return worker in recovery.living_workers(fleet_redis(), timeout)

"""Chaos: writes that arrive late or twice never undo a later one (the fence).

Each test plays one interleaving against the real ledger and outbox: an execution's
write kept in the outbox during an outage and drained after a newer execution
finished, two drains at once, the lost-run sweep acting on a row that moved on,
a second live delivery of one run, an entry that cannot be applied.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest

from tests.support import letters_of
from worker import ledger
from worker.ledger import outbox, runs
from worker.ledger.db import LedgerUnavailable
from worker.ledger.outbox import FAILED_KEY, OUTBOX_KEY

pytestmark = pytest.mark.usefixtures("ledger_db", "redis_clean")
LONG = 300.0  # a live claim
EXPIRED = 0.0  # a claim whose lease is already over (its executor hung or died)


@pytest.fixture(autouse=True)
def empty_outbox() -> None:
    client = outbox.fleet_redis()
    client.delete(OUTBOX_KEY, FAILED_KEY)


def new_run() -> ledger.RunRef:
    ref = ledger.RunRef(run_id=str(uuid.uuid4()), tool="fleet.echo", params={"message": "x"})
    ledger.record_queued(ref)
    return ref


def row(ref: ledger.RunRef) -> dict[str, Any]:
    found = ledger.get_run(ref.run_id)
    assert found is not None
    return found


def retry_kwargs(ref: ledger.RunRef, execution: int) -> dict[str, Any]:
    error = {"type": "Unavailable", "message": "502", "retryable": True, "attempt": 1}
    return {"run_id": ref.run_id, "execution": execution, "error": error, "countdown": 1.0}


def test_a_retry_kept_during_an_outage_never_reopens_the_run_its_retry_finished() -> None:
    # Given attempt 1 failed while Postgres was down: its retry is kept in the outbox...
    ref = new_run()
    first = ledger.begin(ref, lease_seconds=EXPIRED)
    outbox.keep("schedule_retry", **retry_kwargs(ref, first.execution))
    # ...and the retry, taking over once the first claim ran out, succeeded directly.
    second = ledger.begin(ref, lease_seconds=LONG)
    assert second.execution == first.execution + 1 and second.busy is None
    runs.succeed(ref.run_id, {"ok": True}, execution=second.execution, attempt=1)

    # When the outbox drains afterwards...
    assert outbox.drain() == 1

    # ...the stale write is dropped: the run stays succeeded, nothing left to apply.
    after = row(ref)
    assert (after["status"], after["result"]) == ("succeeded", {"ok": True})
    assert [entry["event"] for entry in after["history"]] == ["succeeded"]
    assert outbox.length() == 0


def test_a_second_live_delivery_is_not_let_in_and_a_stale_execution_cannot_write() -> None:
    ref = new_run()
    first = ledger.begin(ref, lease_seconds=LONG)
    # A second delivery while the first runs: not claimed, told who holds it.
    twin = ledger.begin(ref, lease_seconds=LONG)
    assert twin.busy is not None and not twin.already_final
    assert row(ref)["execution"] == first.execution

    # A claim whose lease ran out is taken over, and its owner can no longer write.
    lapsed = new_run()
    old = ledger.begin(lapsed, lease_seconds=EXPIRED)
    new = ledger.begin(lapsed, lease_seconds=LONG)
    assert new.busy is None and new.redeliveries == 1 and new.maybe_written
    assert not runs.schedule_retry(**retry_kwargs(lapsed, old.execution))
    runs.succeed(lapsed.run_id, {"n": 2}, execution=old.execution)  # dropped
    assert row(lapsed)["status"] == "running"
    runs.succeed(lapsed.run_id, {"n": 2}, execution=new.execution)
    assert row(lapsed)["result"] == {"n": 2}


def test_a_final_run_stays_final_whatever_arrives_after() -> None:
    ref = new_run()
    begun = ledger.begin(ref, lease_seconds=LONG)
    runs.succeed(ref.run_id, {"done": 1}, execution=begun.execution)
    error = {"type": "Fatal", "message": "late", "retryable": False}

    assert not runs.schedule_retry(**retry_kwargs(ref, begun.execution))
    assert not runs.park(ref.run_id, 5.0, "late", execution=begun.execution)
    assert ledger.bury(ref, error, execution=begun.execution) is None
    assert ledger.bury(ref, error) is None  # the intake's write, from outside any execution
    assert ledger.begin(ref, lease_seconds=LONG).already_final
    after = row(ref)
    assert (after["status"], after["result"], after["error"]) == ("succeeded", {"done": 1}, None)
    assert letters_of(ref.run_id) == []


def test_the_lost_run_sweep_leaves_alone_a_run_that_moved_on_since_it_looked() -> None:
    # The sweep read the run while it waited...
    ref = new_run()
    begun = ledger.begin(ref, lease_seconds=LONG)
    runs.schedule_retry(**retry_kwargs(ref, begun.execution))
    seen = row(ref)
    # ...then the retry ran and succeeded.
    again = ledger.begin(ref, lease_seconds=LONG)
    runs.succeed(ref.run_id, {"ok": 1}, execution=again.execution)

    error = {"type": "Fatal", "message": "lost", "retryable": False}
    assert ledger.bury_lost(seen, error) is None
    assert not ledger.mark_republished(seen)
    assert row(ref)["status"] == "succeeded"
    assert letters_of(ref.run_id) == []


def test_two_drains_at_once_apply_every_entry_once_in_order() -> None:
    # Each run: a retry, then the same execution's burial, both kept in order.
    refs = [new_run() for _ in range(20)]
    dead = {"type": "Fatal", "message": "gave up", "retryable": False}
    for ref in refs:
        begun = ledger.begin(ref, lease_seconds=LONG)
        outbox.keep("schedule_retry", **retry_kwargs(ref, begun.execution))
        ref_json = {**ref.__dict__}
        outbox.keep("bury", ref=ref_json, error=dead, execution=begun.execution)
    applied: list[int] = []
    start = threading.Barrier(2)

    def drain() -> None:
        start.wait()
        applied.append(outbox.drain())

    threads = [threading.Thread(target=drain) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(applied) == [0, 40]  # one drain at a time: the other found it under way
    assert outbox.length() == 0
    for ref in refs:
        assert row(ref)["status"] == "dead"
        assert len(letters_of(ref.run_id)) == 1


def test_an_entry_stays_until_it_applied_and_a_broken_one_is_set_aside(monkeypatch) -> None:
    ref = new_run()
    begun = ledger.begin(ref, lease_seconds=LONG)
    outbox.keep("succeed", run_id=ref.run_id, execution=begun.execution, result={"a": 1})
    outbox.fleet_redis().rpush(OUTBOX_KEY, json.dumps({"id": "x", "op": "succeed", "kwargs": {}}))

    # Postgres drops out as the first entry is applied: it stays, at the head.
    original = outbox.OPERATIONS["succeed"]
    outages = iter([True])

    def flaky(**kwargs: Any) -> Any:
        if next(outages, False):
            raise LedgerUnavailable("ledger unavailable: gone mid-drain")
        return original(**kwargs)

    monkeypatch.setitem(outbox.OPERATIONS, "succeed", flaky)
    assert outbox.drain() == 0
    assert outbox.length() == 2

    # Back: it applies; the entry no operation can take is kept aside, whole.
    assert outbox.drain() == 1
    assert row(ref)["result"] == {"a": 1}
    assert outbox.length() == 0
    assert outbox.failed() == 1
    assert json.loads(outbox.fleet_redis().lindex(FAILED_KEY, 0))["id"] == "x"


def test_a_syncs_page_is_written_by_the_execution_holding_it_and_no_other() -> None:
    from worker.syncs import store
    from worker.syncs.kinds import Item, Page

    name, run_id = f"lease-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    page = Page([Item(f"{name}#1", "2026-01-01T00:00:00Z", {"n": 1})], next_token=2)
    # Execution 1 of the run holds the sync; then it stalls, and execution 2 of the
    # same run (a redelivery that took over) claims it from its own earlier self.
    assert store.claim(name, "t.kind", "t", run_id, execution=1, lease=LONG, full=False)
    assert store.claim(name, "t.kind", "t", run_id, execution=2, lease=LONG, full=False)

    # The stale execution's page is refused, the current one's written.
    claim = store.Claim(since=None, token=None, high_water=None)
    with pytest.raises(store.LeaseLost):
        store.commit_page(name, "t", "kind", run_id, 1, page, claim, lease=LONG)
    store.commit_page(name, "t", "kind", run_id, 2, page, claim, lease=LONG)
    assert claim.counts["pages"] == 1
    # An older execution coming back later cannot take the sync back either.
    assert store.claim(name, "t.kind", "t", run_id, execution=1, lease=LONG, full=False) is None

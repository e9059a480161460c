"""Chaos: a run is final exactly once, over random interleavings of deliveries, writes
kept in the outbox, drains and lost-run sweeps (Hypothesis stateful testing against
the real ledger and outbox).

The model plays one run. A delivery claims it (or is kept out by a live claim, or
answered because it is final); a claimed execution calls the provider at once (its
effect is drawn: written, not written, or unknown to it) and later records its
outcome, directly or through the outbox; claims may run out (an executor that hung),
so executions overlap; the sweep reads the run and acts on what it read, possibly
long after. After every step:

- a run once final stays final, with the same status and result;
- the provider's write happened at most once: an execution that may write blind
  (the ledger says no earlier execution may have written) never follows a write;
- the run's execution number only grows, and a write of an execution that is no
  longer the run's own changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from worker import ledger
from worker.ledger import outbox, runs
from worker.ledger.outbox import FAILED_KEY, OUTBOX_KEY

LIVE, EXPIRED = 300.0, 0.0
UNAVAILABLE = {"type": "Unavailable", "message": "502", "retryable": True, "attempt": 1}
RATE_LIMITED = {"type": "RateLimited", "message": "429", "retryable": True, "attempt": 1}
FATAL = {"type": "Fatal", "message": "refused", "retryable": False}


@dataclass
class Execution:
    number: int
    op: str  # what it records: succeed, retry, park, bury
    kwargs: dict[str, Any]


class OneRun(RuleBasedStateMachine):
    executions = Bundle("executions")
    snapshots = Bundle("snapshots")

    def __init__(self) -> None:
        super().__init__()
        self.ref = ledger.RunRef(run_id=str(uuid.uuid4()), tool="fleet.echo", params={"m": 1})
        ledger.record_queued(self.ref)
        self.writes = 0  # what the provider really did
        self.final: tuple[str, Any] | None = None
        self.execution = 0

    @rule(target=executions, lease=st.sampled_from([LIVE, EXPIRED]), draw=st.data())
    def deliver(self, lease: float, draw: st.DataObject) -> Any:
        begun = ledger.begin(self.ref, lease_seconds=lease)
        if begun.already_final or begun.busy is not None:
            return Execution(begun.execution, "none", {})  # answered, or kept out
        run_id, number = self.ref.run_id, begun.execution
        if begun.maybe_written and self.writes:  # the lookup finds the earlier write
            return Execution(number, "succeed", {"result": {"reconciled": True}})
        if begun.maybe_written and draw.draw(st.booleans(), label="lookup fails"):
            return Execution(number, "retry", {"error": RATE_LIMITED, "maybe_written": True})
        effect = draw.draw(st.sampled_from(["written", "refused", "unknown", "parked"]))
        if effect == "parked":
            return Execution(number, "park", {})
        if effect == "refused":
            error = draw.draw(st.sampled_from([RATE_LIMITED, FATAL]))
            op = "bury" if error is FATAL else "retry"
            return Execution(number, op, {"error": error, "maybe_written": False})
        happened = effect == "written" or draw.draw(st.booleans(), label="it happened")
        self.writes += happened
        if effect == "written":
            return Execution(number, "succeed", {"result": {"by": number, "run": run_id}})
        return Execution(number, "retry", {"error": UNAVAILABLE, "maybe_written": True})

    @rule(execution=executions, kept=st.booleans())
    def record(self, execution: Execution, kept: bool) -> None:
        """The execution's write, now, or kept in the outbox (Postgres was down)."""
        if execution.op == "none":
            return
        run_id, number = self.ref.run_id, execution.number
        op, kwargs = {
            "succeed": ("succeed", {"run_id": run_id, **execution.kwargs}),
            "retry": ("schedule_retry", {"run_id": run_id, "countdown": 1.0, **execution.kwargs}),
            "park": ("park", {"run_id": run_id, "countdown": 1.0, "reason": "budget"}),
            "bury": ("bury", {"ref": vars(self.ref), "error": execution.kwargs.get("error")}),
        }[execution.op]
        kwargs["execution"] = number
        before = ledger.get_run(run_id)
        if kept and op != "park":  # parks are never kept: the policy's are best effort
            outbox.keep(op, **kwargs)
            return
        outbox.OPERATIONS[op](**kwargs) if op != "park" else runs.park(**kwargs)
        if before["execution"] != number:  # a stale execution's write changes nothing
            assert ledger.get_run(run_id)["updated_at"] == before["updated_at"]

    @rule()
    def drain(self) -> None:
        outbox.drain()

    @rule(target=snapshots)
    def sweep_reads(self) -> Any:
        return ledger.get_run(self.ref.run_id)

    @rule(snapshot=snapshots, republish=st.booleans())
    def sweep_acts(self, snapshot: dict[str, Any], republish: bool) -> None:
        """The lost-run sweep acting on what it read, however long ago."""
        if snapshot["status"] not in ("queued", "retrying", "parked", "running"):
            return
        if republish:
            ledger.mark_republished(snapshot)
        else:
            ledger.bury_lost(snapshot, {"type": "Fatal", "message": "lost", "retryable": False})

    @invariant()
    def final_once(self) -> None:
        now = ledger.get_run(self.ref.run_id)
        assert now is not None
        if self.final is not None:
            assert (now["status"], now["result"]) == self.final, now["history"]
        elif now["status"] in ledger.FINAL_STATUSES:
            self.final = (now["status"], now["result"])

    @invariant()
    def executions_only_move_on(self) -> None:
        now = ledger.get_run(self.ref.run_id)
        assert now is not None and now["execution"] >= self.execution
        self.execution = now["execution"]

    @invariant()
    def written_at_most_once(self) -> None:
        assert self.writes <= 1


@pytest.mark.usefixtures("ledger_db", "redis_clean")
def test_no_interleaving_reopens_a_final_run_or_repeats_a_write() -> None:
    client = outbox.fleet_redis()
    client.delete(OUTBOX_KEY, FAILED_KEY)
    run_state_machine_as_test(
        OneRun,
        settings=settings(
            max_examples=200,
            stateful_step_count=20,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    assert outbox.failed() == 0  # every kept write could be applied (or was dropped as stale)

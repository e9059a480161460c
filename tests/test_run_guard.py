"""Whatever goes wrong inside the policy, the run ends final: an exception injected at
every step of a real worker's policy (tests.faults) is retried when the provider had
not been called yet and is otherwise dead as InternalError, with its traceback kept
in the dead letter, its completion event published and the caller's AsyncResult
raising it. A failure to learn from a response is not the call's failure."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.faults import FAULT_KEY, STEPS
from tests.support import OwnFleet, WorkerProcess, letters_of, wait_final, wait_for
from worker.client import FleetClient
from worker.errors import InternalError

GUARD_ENV = {"FLEET_RETRY_MAX_ATTEMPTS": "2"}
REPO = "octo/hello"
# step -> how the run ends: its status, the attempts recorded, whether the tool function
# had started (the provider may have acted: no second try), whether a request reached it
OUTCOMES: dict[str, tuple[str, int, bool, bool]] = {
    "begin": ("dead", 0, False, False),
    "validate": ("dead", 2, False, False),
    "idempotency": ("dead", 2, False, False),
    "admit": ("dead", 2, False, False),
    "the call": ("dead", 1, True, False),  # raised inside the tool, before its request
    "classify": ("dead", 1, True, True),
    "learn": ("succeeded", 1, True, True),
    "reconcile": ("dead", 2, False, False),
    "record": ("dead", 1, True, True),
}


@pytest.fixture(scope="module")
def guard_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnFleet]:
    fleet = OwnFleet(tmp_path_factory.mktemp("guard"), GUARD_ENV)
    yield fleet
    fleet.close()


@pytest.fixture(scope="module")
def broker(guard_fleet: OwnFleet) -> redis.Redis:
    return guard_fleet.redis()


@pytest.fixture(scope="module")
def faulty_worker(ledger_db: str, simulator: Any, guard_fleet: OwnFleet) -> WorkerProcess:
    return guard_fleet.worker("guard", queues="github", module="tests.faults")


@pytest.fixture(scope="module")
def guard_client(guard_fleet: OwnFleet, faulty_worker: WorkerProcess) -> FleetClient:
    return guard_fleet.client


@pytest.fixture
def fault(broker: redis.Redis) -> Iterator[Any]:
    def arm(step: str) -> None:
        broker.set(FAULT_KEY, step)

    yield arm
    broker.delete(FAULT_KEY)


def test_every_step_of_the_policy_is_covered() -> None:
    assert set(OUTCOMES) == set(STEPS)


@pytest.mark.parametrize("step", STEPS)
def test_an_unforeseen_exception_at_any_step_ends_the_run_final(
    step: str, guard_client: FleetClient, faulty_worker: WorkerProcess, sim: Any, fault: Any,
    broker: redis.Redis,
) -> None:  # fmt: skip
    status, attempts, called, reached = OUTCOMES[step]
    repo = f"octo/missing-{uuid.uuid4().hex[:6]}" if step == "classify" else REPO
    key = None
    if step == "idempotency":  # a finished run holds the key: its outcome is to be copied
        key = f"key-{uuid.uuid4()}"
        guard_client.call("github.get_repository", {"repo": REPO}, idempotency_key=key).get(20)
    sim.clear_requests()

    # Given the step fails with an exception nothing foresees...
    fault(step)
    run = guard_client.call("github.get_repository", {"repo": repo}, idempotency_key=key)

    # ...the run ends final all the same,
    row = wait_final(run.id, timeout=30)
    assert (row["status"], row["attempts"]) == (status, attempts), row["history"]
    requests = [r for r in sim.requests(provider="github") if "/repos/octo/" in r["path"]]
    assert bool(requests) is reached
    # its completion event is published,
    events = wait_for(lambda: _events(broker, run.id), 10, what="the completion event")
    assert events[-1]["status"] == status
    if status == "succeeded":  # the governor not learning is no reason to fail a call
        assert run.get(timeout=10)["full_name"] == REPO
        assert "the governor could not learn" in faulty_worker.text()
        return
    # the caller learns a classified error,
    with pytest.raises(InternalError, match=f"internal error at {step}"):
        run.get(timeout=10)
    # and the dead letter keeps what happened, traceback included.
    error = row["error"]
    assert (error["type"], error["step"], error["before_call"]) == (
        "InternalError", step, not called
    )  # fmt: skip
    (letter,) = letters_of(run.id)
    assert "InjectedFault" in letter["traceback"]
    if not called and step != "begin":  # tried again first: one failed attempt on record
        failed = [entry for entry in row["history"] if entry["event"] == "failed"]
        assert [entry["error"]["type"] for entry in failed] == ["InternalError"]


def _events(broker: redis.Redis, run_id: str) -> list[dict[str, Any]]:
    entries = broker.xrange("fleet:events")
    return [json.loads(f[b"data"]) for _, f in entries if f[b"run_id"].decode() == run_id]

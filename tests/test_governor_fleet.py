"""Fleet-wide limits through real worker processes and the provider simulator.

Two `fleet worker` processes share one broker of their own and the
governor's state in it; what one worker learns (a 429, a spent GitHub
budget, an unavailable provider) holds for the other.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import OwnFleet, WorkerProcess, fleet_cli, wait_final, wait_for
from worker import ledger
from worker.client import FleetClient

LIMITED_ENV = {
    "FLEET_RATE_LIMITS": '{"jira": ["10/s burst 2"]}',
    "FLEET_CIRCUIT_FAILURES": "3",
    "FLEET_CIRCUIT_COOLDOWN_SECONDS": "2",
}
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def governed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnFleet]:
    fleet = OwnFleet(tmp_path_factory.mktemp("governed"), LIMITED_ENV)
    yield fleet
    fleet.close()


@pytest.fixture(scope="module")
def two_workers(ledger_db, simulator, governed) -> list[WorkerProcess]:
    workers = [
        governed.worker(f"gov{n}", queues="jira,github", concurrency=4, ready=False) for n in (1, 2)
    ]
    for worker in workers:
        worker.wait_ready()
    return workers


@pytest.fixture
def fleet(governed, two_workers, sim) -> FleetClient:
    client = governed.redis()
    for key in client.scan_iter("fleet:gov:*"):
        client.delete(key)
    return governed.client


def jira_requests(sim: Any, path: str = r"/rest/api/2/project$") -> list[dict[str, Any]]:
    return sorted(sim.requests(provider="jira", path=path), key=lambda r: r["timestamp"])


def finished(runs: list[Any]) -> list[dict[str, Any]]:
    return [wait_final(run.id, timeout=60) for run in runs]


def test_two_workers_hold_one_limit_by_parking_not_failing(fleet, sim):
    runs = [fleet.call("jira.list_projects", {}) for _ in range(30)]

    rows = finished(runs)
    times = [r["timestamp"] for r in jira_requests(sim)]

    assert {row["status"] for row in rows} == {"succeeded"}
    assert {row["attempts"] for row in rows} == {1}  # parks are not attempts
    assert sum(row["parks"] for row in rows) >= 20
    assert len({row["worker"] for row in rows}) == 2
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest <= 10 + 2
    achieved = (len(times) - 2) / (times[-1] - times[0])
    assert 8.0 <= achieved <= 10.5


def test_a_429_seen_by_one_worker_parks_calls_on_every_worker(fleet, sim):
    sim.inject("jira", path=r"/rest/api/2/project$", status=429, retry_after=3)
    first = fleet.call("jira.list_projects", {})
    wait_for(lambda: jira_requests(sim), what="the 429")
    limited_at = jira_requests(sim)[0]["timestamp"]

    others = [fleet.call("jira.list_projects", {}) for _ in range(8)]
    rows = finished([first, *others])

    later = [r["timestamp"] for r in jira_requests(sim)[1:]]
    assert min(later) >= limited_at + 3 - 0.1  # nobody called while the scope was closed
    assert max(later) <= limited_at + 3 + 2.5  # and they resumed on time (9 at 10/s)
    assert rows[0]["attempts"] == 2  # the 429 was an attempt...
    assert {row["attempts"] for row in rows[1:]} == {1}  # ...the others only waited
    assert all(row["parks"] >= 1 for row in rows[1:])
    assert len({row["worker"] for row in rows[1:]}) == 2


def test_remaining_zero_closes_the_github_scope_until_reset(fleet, sim):
    with sim.engine.lock:  # one call left in this window, which resets in 3 s
        state = sim.engine.state.github
        state.rate_used = {"core": 4999}
        state.rate_reset = int(time.time()) + 3
        reset = state.rate_reset

    last = fleet.call("github.get_repository", {"repo": "octo/hello"})
    wait_final(last.id)
    after = fleet.call("github.get_repository", {"repo": "octo/hello"})
    row = wait_final(after.id)

    seen = sorted(sim.requests(provider="github"), key=lambda r: r["timestamp"])
    assert [r["status"] for r in seen] == [200, 200]  # never a 403 for a spent budget
    assert seen[1]["timestamp"] >= reset - 0.05
    assert row["parks"] >= 1
    assert row["attempts"] == 1


def test_the_circuit_opens_parks_probes_once_and_closes(fleet, sim):
    sim.inject("jira", path=r"/rest/api/2/project$", status=503, times=3)
    sim.inject("jira", path=r"/rest/api/2/project$", latency=1.0)  # the probe takes a second

    failing = fleet.call("jira.list_projects", {})
    wait_for(lambda: len(jira_requests(sim)) == 3, what="three 503s")
    opened_at = jira_requests(sim)[2]["timestamp"]
    waiting = [fleet.call("jira.list_projects", {}) for _ in range(4)]
    rows = finished([failing, *waiting])

    seen = jira_requests(sim)
    after_open = seen[3:]
    assert [r["status"] for r in seen[:3]] == [503, 503, 503]
    assert after_open[0]["timestamp"] >= opened_at + 2 - 0.1  # parked for the cool-down
    probe_answered = after_open[0]["timestamp"] + 1.0
    assert all(r["timestamp"] >= probe_answered for r in after_open[1:])  # one probe, alone
    assert {row["status"] for row in rows} == {"succeeded"}
    assert rows[0]["attempts"] == 4  # three failures, then the probe or a call after it
    assert {row["attempts"] for row in rows[1:]} == {1}
    assert all(row["parks"] >= 1 for row in rows[1:])


def test_fleet_limits_shows_a_closed_scope_its_parked_runs_and_the_circuit(fleet, governed, sim):
    sim.inject("jira", path=r"/rest/api/2/project$", status=429, retry_after=4)
    first = fleet.call("jira.list_projects", {})
    wait_for(lambda: jira_requests(sim), what="the 429")
    waiting = [fleet.call("jira.list_projects", {}) for _ in range(3)]
    wait_for(lambda: all((ledger.get_run(r.id) or {}).get("parks") for r in waiting), what="parks")

    shown = fleet_cli("limits", "--json", env=governed.env)
    table = fleet_cli("limits", env=governed.env).stdout

    state = json.loads(shown.stdout)
    (jira,) = [row for row in state["scopes"] if row["scope"] == "jira:default"]
    assert jira["limits"][0]["limit"] == "10/s burst 2"
    assert 0 < jira["closed_for"] <= 4
    assert jira["parked"] >= 3
    assert jira["circuit"] == "closed"
    assert state["circuits"]["jira"]["state"] == "closed"
    assert "jira:default" in table
    assert "10/s burst 2" in table
    finished([first, *waiting])

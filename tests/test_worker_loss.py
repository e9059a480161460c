"""A worker killed mid-task loses nothing; a run that keeps killing workers is buried."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import insert

from tests.support import OwnFleet, Reply, letters_of, wait_final, wait_for
from worker import ledger
from worker.ledger.db import engine
from worker.ledger.models import ToolRun
from worker.settings import get_settings

# A broker of its own, the default visibility timeout (an hour) and a short
# heartbeat timeout: a killed worker's messages come back because it stopped
# beating (worker.broker.recovery), not because an hour passed.
LOSS_ENV = {
    "FLEET_HEARTBEAT_TIMEOUT_SECONDS": "6",
    "FLEET_RETRY_CAP_SECONDS": "1",
    "FLEET_PARK_MAX_SECONDS": "1",
}
IN_FLIGHT = 8


@pytest.fixture
def loss_fleet(ledger_db: str, own_fleet: OwnFleet) -> OwnFleet:
    own_fleet.env.update(LOSS_ENV)
    return own_fleet


@pytest.mark.slow
def test_a_sigkilled_workers_calls_are_finished_by_another_within_seconds(loss_fleet, server, sim):
    loss_client = loss_fleet.client
    assert get_settings().visibility_timeout_seconds == 3600
    urls = [
        server.route(f"/slow-{n}", Reply(200, {"n": n}, delay=3), Reply(200, {"n": n}))
        for n in range(IN_FLIGHT)
    ]
    # The write is made at once; its answer is late: in flight when the worker dies.
    sim.inject("github", method="POST", path=r"^/repos/octo/hello/issues$", slow_response=3)
    title = f"written once {uuid.uuid4()}"
    first = loss_fleet.worker("loss-a", queues="http,github", concurrency=IN_FLIGHT + 2)
    calls = [loss_client.call("http.request", {"url": url}) for url in urls]
    calls.append(loss_client.call("github.create_issue", {"repo": "octo/hello", "title": title}))
    wait_for(
        lambda: (
            sum(bool(server.requests_to(f"/slow-{n}")) for n in range(IN_FLIGHT)) == IN_FLIGHT
            and sim.requests(provider="github", method="POST")
        ),
        what="every call to be in flight",
    )

    first.kill()
    killed_at = time.monotonic()
    loss_fleet.worker("loss-b", queues="http,github", ready=False)
    rows = [wait_final(call.id, timeout=45) for call in calls]
    took = time.monotonic() - killed_at

    assert took < 45
    assert [row["status"] for row in rows] == ["succeeded"] * (IN_FLIGHT + 1)
    assert [(r["redeliveries"], r["worker"].split("@")[0]) for r in rows] == [(1, "loss-b")] * (
        IN_FLIGHT + 1
    )
    assert all(1 <= len(server.requests_to(f"/slow-{n}")) <= 2 for n in range(IN_FLIGHT))
    # The re-run found the killed attempt's issue instead of writing another.
    assert len(sim.requests(provider="github", method="POST")) == 1
    assert rows[-1]["result"]["title"] == title and rows[-1]["result"]["reconciled"] is True
    print(f"\n{IN_FLIGHT + 1} calls of a SIGKILLed worker finished {took:.1f}s after the kill")


def test_a_run_lost_more_than_max_redeliveries_is_buried(fleet_worker, client, server):
    # Given a run its workers have already lost max_redeliveries times...
    url = server.route("/poison", Reply(200))
    run_id = str(uuid.uuid4())
    with engine().begin() as conn:
        conn.execute(
            insert(ToolRun).values(
                id=run_id,
                tool="http.request",
                status="running",
                redeliveries=get_settings().max_redeliveries,
            )
        )

    # ...when it is delivered once more, still marked running...
    client.app.send_task("http.request", kwargs={"url": url}, task_id=run_id)

    # ...it is buried instead of run again.
    row = wait_final(run_id)
    assert row["status"] == "dead"
    assert "lost 4 times" in row["error"]["message"]
    assert letters_of(run_id)
    assert server.requests_to("/poison") == []
    assert ledger.get_run(run_id)["redeliveries"] == 4

"""Chaos: a call that kills its worker every time. Each execution dies with its
worker (SIGKILL while the provider call is under way); the living give the message
back, the ledger counts the loss, and past FLEET_MAX_REDELIVERIES the run is buried
as a dead letter instead of killing workers forever."""

from __future__ import annotations

import pytest

from tests.support import Reply, letters_of, wait_final, wait_for

MAX_REDELIVERIES = 1


@pytest.mark.slow
def test_a_call_that_kills_its_worker_every_time_is_buried_after_the_cap(
    ledger_db, server, own_fleet
):
    client = own_fleet.client
    poison = server.route("/poison", Reply(200, {"never": "seen"}, delay=60))
    healthy = server.route("/healthy", Reply(200, {"ok": True}))
    own_fleet.env.update(
        {"FLEET_MAX_REDELIVERIES": str(MAX_REDELIVERIES), "FLEET_HEARTBEAT_TIMEOUT_SECONDS": "3"}
    )
    call = client.call("http.request", {"url": poison})
    for death in range(1, MAX_REDELIVERIES + 2):
        worker = own_fleet.worker(f"victim{death}", queues="http")
        wait_for(lambda n=death: len(server.requests_to("/poison")) == n, 30,
                 what=f"execution {death} to call the provider")  # fmt: skip
        worker.kill()  # the call takes its worker down with it
    survivor = own_fleet.worker("survivor", queues="http")
    row = wait_final(call.id, timeout=30)
    after = client.call("http.request", {"url": healthy}).get(timeout=20)
    alive = survivor.alive()

    assert row["status"] == "dead"
    assert row["redeliveries"] == MAX_REDELIVERIES + 1
    assert f"lost {MAX_REDELIVERIES + 1} times" in row["error"]["message"]
    assert letters_of(call.id)
    # Each lost execution reached the provider; the burial made no further call.
    assert len(server.requests_to("/poison")) == MAX_REDELIVERIES + 1
    assert after["body"] == {"ok": True} and alive

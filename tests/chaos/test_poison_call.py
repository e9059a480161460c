"""Chaos: a call that kills its worker every time. Each execution dies with its
worker (SIGKILL while the provider call is under way); the living give the message
back, the ledger counts the loss, and past FLEET_MAX_REDELIVERIES the run is buried
as a dead letter instead of killing workers forever."""

from __future__ import annotations

import pytest
from celery import Celery

from tests.support import RedisServer, Reply, WorkerProcess, letters_of, wait_final, wait_for
from worker.front.client import FleetClient
from worker.queues import queue_for

MAX_REDELIVERIES = 1


@pytest.fixture
def broker(tmp_path):
    server = RedisServer(tmp_path)
    yield server
    server.stop()


@pytest.mark.slow
def test_a_call_that_kills_its_worker_every_time_is_buried_after_the_cap(
    ledger_db, server, broker, tmp_path
):
    app = Celery(broker=broker.url, backend=broker.url)
    app.conf.update(task_routes=(lambda name, *a, **k: {"queue": queue_for(name)},))
    client = FleetClient(app)
    poison = server.route("/poison", Reply(200, {"never": "seen"}, delay=60))
    healthy = server.route("/healthy", Reply(200, {"ok": True}))
    env = {
        "FLEET_BROKER_URL": broker.url,
        "FLEET_MAX_REDELIVERIES": str(MAX_REDELIVERIES),
        "FLEET_HEARTBEAT_TIMEOUT_SECONDS": "3",
    }
    call = client.call("http.request", {"url": poison})
    workers = []
    try:
        for death in range(1, MAX_REDELIVERIES + 2):
            worker = WorkerProcess(tmp_path / f"w{death}.log", env, queues="http",
                                   name=f"victim{death}")  # fmt: skip
            workers.append(worker)
            worker.wait_ready()
            wait_for(lambda n=death: len(server.requests_to("/poison")) == n, 30,
                     what=f"execution {death} to call the provider")  # fmt: skip
            worker.kill()  # the call takes its worker down with it
        survivor = WorkerProcess(tmp_path / "survivor.log", env, queues="http", name="survivor")
        workers.append(survivor)
        survivor.wait_ready()
        row = wait_final(call.id, timeout=30)
        after = client.call("http.request", {"url": healthy}).get(timeout=20)
        alive = survivor.alive()
    finally:
        for worker in workers:
            worker.stop()
        app.backend.result_consumer.subscribed_to.clear()  # before its Redis goes
        app.close()

    assert row["status"] == "dead"
    assert row["redeliveries"] == MAX_REDELIVERIES + 1
    assert f"lost {MAX_REDELIVERIES + 1} times" in row["error"]["message"]
    assert letters_of(call.id)
    # Each lost execution reached the provider; the burial made no further call.
    assert len(server.requests_to("/poison")) == MAX_REDELIVERIES + 1
    assert after["body"] == {"ok": True} and alive

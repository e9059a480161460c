"""Chaos: SIGTERM while calls run. The running calls finish (warm shutdown) and are
recorded once; the calls the worker had not started stay on the queue for the next."""

from __future__ import annotations

import signal
import time

import pytest
from celery import Celery

from tests.support import RedisServer, Reply, WorkerProcess, wait_final, wait_for
from worker.front.client import FleetClient
from worker.queues import queue_for

RUNNING, WAITING = 4, 3


@pytest.fixture
def broker(tmp_path):
    server = RedisServer(tmp_path)
    yield server
    server.stop()


@pytest.mark.slow
def test_sigterm_lets_running_calls_finish_and_leaves_the_rest_queued(
    ledger_db, server, broker, tmp_path
):
    app = Celery(broker=broker.url, backend=broker.url)
    app.conf.update(task_routes=(lambda name, *a, **k: {"queue": queue_for(name)},))
    client = FleetClient(app)
    url = server.route("/slow", Reply(201, {"done": True}, delay=2.0))
    env = {"FLEET_BROKER_URL": broker.url}
    first = WorkerProcess(tmp_path / "first.log", env, queues="http", name="first",
                          concurrency=RUNNING)  # fmt: skip
    try:
        first.wait_ready()
        calls = [client.call("http.request", {"url": url, "method": "POST"})
                 for _ in range(RUNNING + WAITING)]  # fmt: skip
        wait_for(lambda: len(server.requests_to("/slow")) == RUNNING, what="the calls to run")
        first.proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = first.proc.wait(20)
        took = time.monotonic() - started
        finished = [wait_final(call.id, timeout=5) for call in calls[:RUNNING]]
        assert broker.client().llen("http") == WAITING  # not started: still queued

        second = WorkerProcess(tmp_path / "second.log", env, queues="http", name="second")
        second.wait_ready()
        rest = [wait_final(call.id, timeout=30) for call in calls[RUNNING:]]
        second.stop()
    finally:
        first.stop()
        app.backend.result_consumer.subscribed_to.clear()  # before its Redis goes
        app.close()

    assert code == 0 and took < 10
    assert {row["worker"].split("@")[0] for row in finished} == {"first"}
    assert {row["worker"].split("@")[0] for row in rest} == {"second"}
    rows = finished + rest
    assert [(row["status"], row["attempts"], row["redeliveries"]) for row in rows] == [
        ("succeeded", 1, 0)
    ] * (RUNNING + WAITING)
    assert len(server.requests_to("/slow")) == RUNNING + WAITING  # each call made once
    print(f"\nwarm shutdown with {RUNNING} calls running took {took:.1f}s")

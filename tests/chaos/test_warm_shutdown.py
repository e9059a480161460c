"""Chaos: SIGTERM while calls run. The running calls finish (warm shutdown) and are
recorded once; the calls the worker had not started stay on the queue for the next."""

from __future__ import annotations

import signal
import time

import pytest

from tests.support import Reply, wait_final, wait_for

RUNNING, WAITING = 4, 3


@pytest.mark.slow
def test_sigterm_lets_running_calls_finish_and_leaves_the_rest_queued(ledger_db, server, own_fleet):
    client = own_fleet.client
    url = server.route("/slow", Reply(201, {"done": True}, delay=2.0))
    first = own_fleet.worker("first", queues="http", concurrency=RUNNING)
    calls = [client.call("http.request", {"url": url, "method": "POST"})
             for _ in range(RUNNING + WAITING)]  # fmt: skip
    wait_for(lambda: len(server.requests_to("/slow")) == RUNNING, what="the calls to run")
    first.proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    code = first.proc.wait(20)
    took = time.monotonic() - started
    finished = [wait_final(call.id, timeout=5) for call in calls[:RUNNING]]
    assert own_fleet.redis().llen("http") == WAITING  # not started: still queued

    second = own_fleet.worker("second", queues="http")
    rest = [wait_final(call.id, timeout=30) for call in calls[RUNNING:]]
    second.stop()

    assert code == 0 and took < 10
    assert {row["worker"].split("@")[0] for row in finished} == {"first"}
    assert {row["worker"].split("@")[0] for row in rest} == {"second"}
    rows = finished + rest
    assert [(row["status"], row["attempts"], row["redeliveries"]) for row in rows] == [
        ("succeeded", 1, 0)
    ] * (RUNNING + WAITING)
    assert len(server.requests_to("/slow")) == RUNNING + WAITING  # each call made once
    print(f"\nwarm shutdown with {RUNNING} calls running took {took:.1f}s")

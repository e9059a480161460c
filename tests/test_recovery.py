"""Recovery without the visibility timeout: delayed messages wait in Redis (not in a
worker), a live worker's long call is never taken from it, and a dead worker's
messages are restored exactly once however many workers notice at the same time.

(A SIGKILLed worker's calls finished by another: tests/test_worker_loss.py.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest
from kombu import Connection

from tests.support import REPO, Reply, fleet_cli, wait_final, wait_for
from worker.broker import recovery
from worker.broker.delayed import DELAYED_KEY
from worker.broker.transport import Channel


def test_a_long_retry_waits_in_redis_not_in_a_worker_and_is_delivered_once(
    ledger_db, server, own_fleet
):
    # The ratios of a 2-hour Retry-After under a 5-minute visibility timeout, scaled
    # down: a wait 4x the visibility timeout.
    own_fleet.env["FLEET_VISIBILITY_TIMEOUT_SECONDS"] = "2"
    broker = own_fleet.broker
    url = server.route("/later", Reply(503, headers={"Retry-After": "10"}), Reply(200, {"ok": 1}))
    own_fleet.worker("delayed", queues="http")
    run = own_fleet.client.call("http.request", {"url": url})
    wait_for(lambda: broker.client().zcard(DELAYED_KEY) == 1, what="the retry to wait")
    time.sleep(4.5)  # twice the visibility timeout: a held message would be redelivered
    held = broker.client().hlen("unacked")  # (it moves to its queue 1 s before it is due)
    waiting = json.loads(fleet_cli("status", "--json", env=own_fleet.env).stdout)["delayed"]
    row = wait_final(run.id, timeout=30)

    first, second = server.requests_to("/later")  # exactly two: delivered once when due
    assert held == 0  # no worker holds the waiting retry
    assert waiting["count"] == 1 and 0 < waiting["next_in"] <= 10
    assert row["status"] == "succeeded" and row["attempts"] == 2
    assert second.at - first.at >= 10
    assert broker.client().zcard(DELAYED_KEY) == 0


def test_a_live_workers_long_call_is_not_taken_from_it(ledger_db, server, own_fleet):
    # Heartbeats 3 s apart at most, a call of 10 s, and a second worker watching.
    own_fleet.env["FLEET_HEARTBEAT_TIMEOUT_SECONDS"] = "3"
    url = server.route("/long", Reply(200, {"long": True}, delay=10))
    for name in ("busy", "watcher"):
        own_fleet.worker(name, queues="http", ready=False)
    for worker in own_fleet.workers:
        worker.wait_ready()
    run = own_fleet.client.call("http.request", {"url": url})
    row = wait_final(run.id, timeout=30)

    assert len(server.requests_to("/long")) == 1
    assert (row["status"], row["attempts"], row["redeliveries"]) == ("succeeded", 1, 0)


def test_a_dead_workers_messages_are_restored_once_when_two_workers_notice_together(own_fleet):
    broker = own_fleet.broker
    transport = "worker.broker.transport:Transport"
    with Connection(broker.url, transport=transport) as conn:
        channel = conn.default_channel
        for n in range(20):
            channel.basic_publish(channel.prepare_message(json.dumps({"n": n})), "", "held")
        # This process becomes a worker, takes the messages, and "dies": no ack,
        # no more beats, its last beat long ago.
        dead = recovery.join(channel.client)
        taken = [channel.basic_get("held", no_ack=False) for _ in range(20)]
        recovery._identity = None
        channel.client.zadd(recovery.HEARTBEATS_KEY, {dead: time.time() - 3600})
        assert all(taken) and channel.client.llen("held") == 0

    restored: list[int] = []
    start = threading.Barrier(2)

    def notice() -> None:
        with Connection(broker.url, transport=transport) as own:
            start.wait()
            restored.append(recovery.recover(own.default_channel, timeout=30))

    noticers = [threading.Thread(target=notice) for _ in range(2)]
    for thread in noticers:
        thread.start()
    for thread in noticers:
        thread.join(20)

    redis = broker.client()
    with Connection(broker.url, transport=transport) as conn:
        back = [conn.default_channel.basic_get("held", no_ack=True) for _ in range(21)]
    bodies = sorted(json.loads(message.body)["n"] for message in back if message is not None)
    assert sorted(restored) == [0, 20]  # one of them claimed the worker, the other nothing
    assert bodies == list(range(20))  # each message once
    assert redis.hlen("unacked") == 0
    assert redis.zcard("unacked_index") == 0
    assert Channel.QoS.__name__ == "FleetQoS"


def test_past_the_visibility_timeout_only_what_no_living_worker_holds_is_restored(own_fleet):
    broker = own_fleet.broker
    transport = "worker.broker.transport:Transport"
    options = {"visibility_timeout": 1}
    with Connection(broker.url, transport=transport, transport_options=options) as conn:
        channel = conn.default_channel
        for n in range(4):
            channel.basic_publish(channel.prepare_message(json.dumps({"n": n})), "", "held")
        # Two taken by a worker that goes on beating (long calls), one by a worker that
        # died, one by a process that never beat (an untracked, bare delivery tag).
        holders = {}
        for who, count in (("live", 2), ("dead", 1)):
            holders[who] = recovery.join(channel.client)
            for _ in range(count):
                assert channel.basic_get("held", no_ack=False)
        channel.client.zadd(recovery.HEARTBEATS_KEY, {holders["dead"]: time.time() - 3600})
        recovery._identity = None
        assert channel.basic_get("held", no_ack=False)
        time.sleep(1.2)  # every one of them past the visibility timeout
        channel.client.zadd(recovery.HEARTBEATS_KEY, {holders["live"]: time.time()})

        channel.qos.restore_visible(interval=1)

        back = [channel.basic_get("held", no_ack=True) for _ in range(3)]
        held = [
            recovery.holder_of(m.decode()) for m in channel.client.zrange("unacked_index", 0, -1)
        ]
    assert sum(message is not None for message in back) == 2  # the dead one's, the bare one
    assert held == [holders["live"], holders["live"]]  # the live calls are left alone


@pytest.mark.slow
def test_runs_a_restarted_redis_lost_are_published_again_or_marked_lost(
    ledger_db, own_fleet, tmp_path
):
    import worker.app
    from worker import ledger

    own_fleet.env.update({"FLEET_LOST_GRACE_SECONDS": "5", "FLEET_LOST_CHECK_SECONDS": "1"})
    broker, env, client = own_fleet.broker, own_fleet.env, own_fleet.client
    runs = [client.call("fleet.echo", {"message": f"m{n}"}) for n in range(47)]
    keyed = client.call("fleet.echo", {"message": "keyed"}, idempotency_key=f"key-{broker.port}")
    secret = [
        client.call("http.request", {"url": "https://example.com/",
                                     "headers": {"Authorization": f"Bearer sk-{n}-hidden"}})
        for n in range(2)
    ]  # fmt: skip
    assert broker.client().llen("syncs") == 48

    broker.stop()
    broker.start()  # no persistence: every message is gone
    assert broker.client().llen("syncs") == 0
    worker = own_fleet.worker("after", queues="syncs,http", ready=False)
    beat = subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "beat"], env={**os.environ, **env},
        stdout=(tmp_path / "beat.log").open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True, cwd=REPO,
    )  # fmt: skip
    try:
        rows = [wait_final(run.id, timeout=90) for run in [*runs, keyed, *secret]]
        # At least ours: the suite's ledger also holds other tests' runs left waiting.
        counts = wait_for(
            lambda: (lost := json.loads(fleet_cli("status", "--json", env=env).stdout)
                     ["broker_lost"])["republished"] >= 48 and lost["lost"] >= 2 and lost,
            30, what="the recovery counted",
        )  # fmt: skip
    finally:
        beat.terminate()
        beat.wait(20)
        worker.stop()

    echoed, lost = rows[:48], rows[48:]
    assert [r["status"] for r in echoed] == ["succeeded"] * 48
    assert all(any(e["event"] == "republished" for e in r["history"]) for r in echoed)
    assert rows[47]["result"] == {"message": "keyed", "data": {}}
    assert rows[47]["idempotency_key"] == f"key-{broker.port}"  # the key travelled again
    assert [r["status"] for r in lost] == ["lost", "lost"]
    for row in lost:
        (letter,) = [x for x in ledger.list_letters(state="dead", limit=1000)
                     if x["run_id"] == row["id"]]  # fmt: skip
        assert "the broker lost this run's message" in letter["error"]["message"]
        assert "(headers.Authorization)" in letter["error"]["message"]
    assert counts["republished"] >= 48 and counts["lost"] >= 2

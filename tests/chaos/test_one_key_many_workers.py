"""Chaos: one idempotency key, twenty calls, two worker processes racing for it —
one provider call, every run ends with its result, nothing doubled."""

from __future__ import annotations

import uuid

from tests.support import Reply, wait_final

CALLS = 20


def test_twenty_calls_with_one_key_across_two_workers_make_one_request(
    ledger_db, server, own_fleet
):
    client = own_fleet.client
    url = server.route("/once", Reply(201, {"made": "once"}, delay=1))
    workers = [
        # One call at a time each: while one worker runs a call, the other must take
        # the next, so both race for the key whatever the timing.
        own_fleet.worker(name, queues="http", concurrency=1, ready=False)
        for name in ("racer-a", "racer-b")
    ]
    for worker in workers:
        worker.wait_ready()
    key = f"one-key-{uuid.uuid4()}"
    calls = [client.call("http.request", {"url": url, "method": "POST"},
                         idempotency_key=key) for _ in range(CALLS)]  # fmt: skip
    rows = [wait_final(call.id, timeout=60) for call in calls]

    assert len(server.requests_to("/once")) == 1
    assert all(row["status"] == "succeeded" for row in rows)
    assert all(row["result"]["body"] == {"made": "once"} for row in rows)
    holders = [row for row in rows if row["idempotency_key"] == key]
    assert len(holders) == 1
    assert {row["duplicate_of"] for row in rows if row is not holders[0]} == {holders[0]["id"]}
    assert {row["worker"].split("@")[0] for row in rows} == {"racer-a", "racer-b"}

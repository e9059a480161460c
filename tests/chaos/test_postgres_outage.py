"""Chaos: PostgreSQL stopped for ~20 s in the middle of 100 calls (a cluster of the
test's own). No provider call is made twice, every run ends `succeeded` exactly
once, and the outcomes kept in the Redis outbox meanwhile reach the ledger."""

from __future__ import annotations

import time

import psycopg
import pytest

from tests.support import PostgresServer, Reply, fleet_cli, wait_for
from worker.ledger.outbox import OUTBOX_KEY

CALLS = 100
OUTAGE_SECONDS = 20


@pytest.fixture
def postgres(own_fleet):
    """A PostgreSQL cluster of the test's own, the ledger of ``own_fleet``'s workers."""
    server = PostgresServer()
    own_fleet.env["FLEET_DATABASE_URL"] = server.url
    fleet_cli("migrate", env=own_fleet.env)
    yield server
    server.close()


def statuses(postgres: PostgresServer) -> list[tuple[str, str]]:
    with psycopg.connect(postgres.dsn("toolfleet")) as conn:
        return conn.execute("SELECT id, status FROM tool_runs").fetchall()


@pytest.mark.slow
def test_postgres_down_for_twenty_seconds_during_a_hundred_calls_loses_and_doubles_nothing(
    own_fleet, postgres, server
):
    client, app = own_fleet.client, own_fleet.app
    urls = [server.route(f"/write-{n}", Reply(201, {"n": n}, delay=0.3)) for n in range(CALLS)]
    worker = own_fleet.worker("test", queues="http,syncs", concurrency=4, ready=False)
    redis = own_fleet.redis()
    try:
        worker.wait_ready()
        calls = [client.call("http.request", {"url": url, "method": "POST"}) for url in urls]
        wait_for(lambda: sum(len(server.requests_to(f"/write-{n}")) for n in range(CALLS)) >= 10,
                 what="the first calls")  # fmt: skip
        postgres.stop()
        time.sleep(OUTAGE_SECONDS)
        kept = redis.llen(OUTBOX_KEY)
        postgres.start()
        back = time.monotonic()

        def caught_up() -> bool:
            if redis.llen(OUTBOX_KEY):
                app.send_task("fleet.drain_outbox")  # beat's job in a fleet; no beat here
                return False
            rows = statuses(postgres)
            return len(rows) == CALLS and all(status == "succeeded" for _, status in rows)

        wait_for(caught_up, 90, 1.0, what="every run recorded")
        took = time.monotonic() - back
    finally:
        worker.stop()

    requests = [len(server.requests_to(f"/write-{n}")) for n in range(CALLS)]
    assert requests == [1] * CALLS  # each write reached the provider exactly once
    assert sorted(run_id for run_id, _ in statuses(postgres)) == sorted(c.id for c in calls)
    assert kept > 0  # calls finished during the outage were kept, then applied
    assert worker.proc.returncode == 0
    print(f"\n{kept} outcomes kept in the outbox; ledger caught up {took:.1f}s after restart")

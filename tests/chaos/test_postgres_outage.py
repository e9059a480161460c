"""Chaos: PostgreSQL stopped for ~20 s in the middle of 100 calls (a cluster of the
test's own). No provider call is made twice, every run ends `succeeded` exactly
once, and the outcomes kept in the Redis outbox meanwhile reach the ledger."""

from __future__ import annotations

import time

import psycopg
import pytest
from celery import Celery

from tests.support import PostgresServer, RedisServer, Reply, WorkerProcess, fleet_cli, wait_for
from worker.front.client import FleetClient
from worker.ledger.outbox import OUTBOX_KEY
from worker.queues import queue_for

CALLS = 100
OUTAGE_SECONDS = 20


@pytest.fixture
def own_services(tmp_path):
    postgres, broker = PostgresServer(), RedisServer(tmp_path)
    env = {"FLEET_BROKER_URL": broker.url, "FLEET_DATABASE_URL": postgres.url}
    fleet_cli("migrate", env=env)
    yield postgres, broker, env
    broker.stop()
    postgres.close()


def statuses(postgres: PostgresServer) -> list[tuple[str, str]]:
    with psycopg.connect(postgres.dsn("toolfleet")) as conn:
        return conn.execute("SELECT id, status FROM tool_runs").fetchall()


@pytest.mark.slow
def test_postgres_down_for_twenty_seconds_during_a_hundred_calls_loses_and_doubles_nothing(
    own_services, server, tmp_path
):
    postgres, broker, env = own_services
    app = Celery(broker=broker.url, backend=broker.url)
    app.conf.update(task_routes=(lambda name, *a, **k: {"queue": queue_for(name)},))
    client = FleetClient(app)
    urls = [server.route(f"/write-{n}", Reply(201, {"n": n}, delay=0.3)) for n in range(CALLS)]
    worker = WorkerProcess(tmp_path / "worker.log", env, queues="http,syncs", concurrency=4)
    redis = broker.client()
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
        app.backend.result_consumer.subscribed_to.clear()  # before its Redis goes
        app.close()

    requests = [len(server.requests_to(f"/write-{n}")) for n in range(CALLS)]
    assert requests == [1] * CALLS  # each write reached the provider exactly once
    assert sorted(run_id for run_id, _ in statuses(postgres)) == sorted(c.id for c in calls)
    assert kept > 0  # calls finished during the outage were kept, then applied
    assert worker.proc.returncode == 0
    print(f"\n{kept} outcomes kept in the outbox; ledger caught up {took:.1f}s after restart")

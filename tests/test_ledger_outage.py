"""A Postgres outage loses nothing: runs wait for the ledger, finished calls are kept."""

from __future__ import annotations

import pytest
import redis
from celery import Celery

from tests.conftest import REDIS_HOST, TEST_DB
from tests.support import Reply, TcpProxy, WorkerProcess, wait_final, wait_for
from worker.client import FleetClient

BROKER = f"{REDIS_HOST}/12"


@pytest.fixture
def outage(ledger_db, tmp_path):
    """A worker whose only road to Postgres is a proxy the test can cut."""
    redis.Redis.from_url(BROKER).flushdb()
    proxy = TcpProxy(("127.0.0.1", 5432))
    env = {
        "FLEET_BROKER_URL": BROKER,
        "FLEET_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/{TEST_DB}",
        "FLEET_RETRY_BASE_SECONDS": "0.5",
    }
    worker = WorkerProcess(tmp_path / "worker.log", env, queues="http,syncs", name="outage")
    worker.wait_ready()
    app = Celery(broker=BROKER, backend=BROKER)
    app.conf.task_routes = (
        lambda name, *a, **k: {"queue": name.split(".")[0].replace("fleet", "syncs")},
    )
    yield proxy, FleetClient(app), worker
    worker.stop()
    proxy.cut()


@pytest.mark.slow
def test_a_run_waits_for_the_ledger_without_calling_the_provider(outage, server):
    proxy, client, worker = outage
    url = server.route("/during-outage", Reply(200, {"ok": True}))
    proxy.cut()

    call = client.call("http.request", {"url": url})
    wait_for(lambda: "ledger unavailable" in worker.text(), what="the run to park")
    assert server.requests_to("/during-outage") == []
    proxy.restore()

    row = wait_final(call.id, timeout=40)
    assert row["status"] == "succeeded"
    assert len(server.requests_to("/during-outage")) == 1
    assert worker.alive()


@pytest.mark.slow
def test_a_finished_call_is_kept_in_the_outbox_and_recorded_when_postgres_returns(outage, server):
    proxy, client, _ = outage
    url = server.route("/slow-write", Reply(201, {"created": 7}, delay=1.0))
    outbox = redis.Redis.from_url(BROKER)

    call = client.call("http.request", {"url": url, "method": "POST"})
    wait_for(lambda: server.requests_to("/slow-write"), what="the provider call")
    proxy.cut()
    wait_for(lambda: outbox.llen("fleet:ledger:outbox") == 1, what="the write to be kept")
    assert call.get(timeout=10)["body"] == {"created": 7}
    proxy.restore()
    client.app.send_task("fleet.drain_outbox")

    row = wait_final(call.id, timeout=30)
    assert row["status"] == "succeeded"
    assert row["result"]["body"] == {"created": 7}
    assert outbox.llen("fleet:ledger:outbox") == 0
    assert len(server.requests_to("/slow-write")) == 1


def test_housekeeping_tasks_leave_no_run_rows(ledger_db):
    from worker import ledger
    from worker.app import app

    result = app.send_task("fleet.drain_outbox")

    assert ledger.get_run(result.id) is None

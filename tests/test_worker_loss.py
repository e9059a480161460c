"""A worker killed mid-task loses nothing; a run that keeps killing workers is buried."""

from __future__ import annotations

import uuid

import pytest
import redis
from sqlalchemy import insert

from tests.conftest import REDIS_HOST
from tests.support import Reply, WorkerProcess, letters_of, wait_final, wait_for
from worker import ledger
from worker.client import FleetClient
from worker.ledger.db import engine
from worker.ledger.models import ToolRun
from worker.settings import get_settings

# A broker db of its own with a short visibility timeout: the message of a
# killed worker is redelivered after 4 s instead of an hour.
LOSS_ENV = {
    "FLEET_BROKER_URL": f"{REDIS_HOST}/14",
    "FLEET_VISIBILITY_TIMEOUT_SECONDS": "4",
    "FLEET_RETRY_CAP_SECONDS": "1",
    "FLEET_PARK_MAX_SECONDS": "1",
}


@pytest.fixture
def loss_client(ledger_db, monkeypatch) -> FleetClient:
    redis.Redis.from_url(LOSS_ENV["FLEET_BROKER_URL"]).flushdb()
    from celery import Celery

    app = Celery(broker=LOSS_ENV["FLEET_BROKER_URL"], backend=LOSS_ENV["FLEET_BROKER_URL"])
    app.conf.update(task_routes=(lambda name, *a, **k: {"queue": "http"},))
    return FleetClient(app)


@pytest.mark.slow
def test_sigkill_mid_task_reruns_on_a_restarted_worker_and_succeeds(loss_client, server, tmp_path):
    url = server.route("/slow-once", Reply(200, {"n": 1}, delay=30), Reply(200, {"n": 2}))
    first = WorkerProcess(tmp_path / "a.log", LOSS_ENV, queues="http", name="loss-a")
    first.wait_ready()

    call = loss_client.call("http.request", {"url": url})
    wait_for(lambda: server.requests_to("/slow-once"), what="the first attempt to arrive")
    first.kill()
    second = WorkerProcess(tmp_path / "b.log", LOSS_ENV, queues="http", name="loss-b")
    try:
        row = wait_final(call.id, timeout=40)
    finally:
        second.stop()

    assert row["status"] == "succeeded"
    assert row["result"]["body"] == {"n": 2}
    assert row["redeliveries"] == 1
    assert row["worker"].startswith("loss-b@")
    assert len(server.requests_to("/slow-once")) == 2


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

"""A Postgres outage loses nothing: runs wait for the ledger, finished calls are kept."""

from __future__ import annotations

import pytest

from tests.conftest import TEST_DB
from tests.support import Reply, TcpProxy, wait_final, wait_for


@pytest.fixture
def outage(ledger_db, own_fleet):
    """A worker whose only road to Postgres is a proxy the test can cut."""
    proxy = TcpProxy(("127.0.0.1", 5432))
    own_fleet.env.update(
        {
            "FLEET_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/{TEST_DB}",
            "FLEET_RETRY_BASE_SECONDS": "0.5",
        }
    )
    worker = own_fleet.worker("outage", queues="http,syncs")
    yield proxy, own_fleet.client, worker
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
def test_a_finished_call_is_kept_in_the_outbox_and_recorded_when_postgres_returns(
    outage, own_fleet, server
):
    proxy, client, _ = outage
    url = server.route("/slow-write", Reply(201, {"created": 7}, delay=1.0))
    outbox = own_fleet.redis()

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

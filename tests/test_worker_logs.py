"""A worker's log at INFO: one short line per run, its result left to the ledger;
failures still logged; everything at DEBUG."""

from __future__ import annotations

import json

import pytest

from tests.support import RedisServer, Reply, WorkerProcess, fleet_cli, wait_final


@pytest.fixture
def broker(tmp_path):
    server = RedisServer(tmp_path)  # no other worker consumes here
    yield server
    server.stop()


@pytest.mark.parametrize("loglevel", ["INFO", "DEBUG"])
def test_a_run_logs_one_short_line_at_info_and_everything_at_debug(
    ledger_db, server, broker, tmp_path, loglevel
):
    env = {"FLEET_BROKER_URL": broker.url}
    missing = server.route("/missing", Reply(404, {"message": "no such thing"}))
    worker = WorkerProcess(
        tmp_path / "w.log", env, queues="syncs,http", name="logs", loglevel=loglevel
    )
    worker.wait_ready()
    try:
        echoed = _call(env, "fleet.echo", {"message": "result-kept-in-the-ledger"})
        failed = _call(env, "http.request", {"url": missing})
        rows = [wait_final(echoed), wait_final(failed)]
    finally:
        worker.stop()

    log = worker.text()
    assert [row["status"] for row in rows] == ["succeeded", "dead"]
    assert f"Task fleet.echo[{echoed}] succeeded in " in log
    assert f"Task http.request[{failed}] raised expected: NotFound" in log  # failures stay
    if loglevel == "INFO":
        assert f"[{echoed}] received" not in log
        assert "result-kept-in-the-ledger" not in log
    else:
        assert f"Task fleet.echo[{echoed}] received" in log
        assert "result-kept-in-the-ledger" in log


def _call(env: dict[str, str], tool: str, params: dict[str, object]) -> str:
    return fleet_cli("call", tool, json.dumps(params), env=env).stdout.strip()

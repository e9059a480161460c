"""The operator's commands: `fleet status`, `fleet run ID`, `fleet call --wait` telling
what happens, `fleet runs` filters, and dead-letter replay (corrected, waited, in bulk)."""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner

from tests.support import RedisServer, Reply, fleet_cli, letters_of, wait_final, wait_for
from worker import ledger
from worker.cli import main
from worker.queues import WATCHED_QUEUES


def fleet(*args: str) -> Any:
    """``fleet ARGS`` in this process: stdout and stderr apart."""
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def idle_broker(tmp_path):
    """A redis-server no worker consumes: what is published there stays queued."""
    server = RedisServer(tmp_path)
    yield server
    server.stop()


def test_call_wait_without_a_worker_says_so_and_exits_without_a_traceback(idle_broker, ledger_db):
    done = fleet_cli(
        "call", "fleet.echo", "{}", "--wait", "--timeout", "3",
        env={"FLEET_BROKER_URL": idle_broker.url}, check=False,
    )  # fmt: skip

    assert done.returncode == 1
    assert "no worker consumes queue 'syncs'" in done.stderr
    assert "fleet up" in done.stderr
    assert "… queued" in done.stderr
    assert "no result within 3s (run queued)" in done.stderr
    assert "Traceback" not in done.stderr and "meta_path" not in done.stderr


def test_status_shows_queue_depths_in_flight_runs_and_no_workers(idle_broker, ledger_db):
    env = {"FLEET_BROKER_URL": idle_broker.url}
    for n in range(3):
        fleet_cli("call", "http.request", json.dumps({"url": f"http://localhost/{n}"}), env=env)

    report = json.loads(fleet_cli("status", "--json", env=env).stdout)
    screen = fleet_cli("status", env=env).stdout

    depths = {row["queue"]: row["depth"] for row in report["queues"]}
    assert depths == {queue: 3 if queue == "http" else 0 for queue in WATCHED_QUEUES}
    assert report["workers"] == {}
    assert all(row["workers"] == 0 for row in report["queues"])
    assert report["in_flight"]["queued"] >= 3
    assert report["dead_letters_waiting"] == len(ledger.list_letters(state="dead", limit=10**6))
    assert report["unreadable"] == {}
    assert "none answered: start them with `fleet up`" in screen
    assert re.search(r"^http\s+3\s+0$", screen, re.M), screen


def test_status_still_shows_the_queues_when_postgres_is_unreachable(idle_broker):
    from tests.support import free_port

    env = {
        "FLEET_BROKER_URL": idle_broker.url,
        "FLEET_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x",
    }

    done = fleet_cli("status", env=env, check=False)

    assert done.returncode == 0, done.stderr
    assert "UNREADABLE postgres" in done.stdout
    assert "github" in done.stdout and "Dead letters waiting: ?" in done.stdout


@pytest.mark.usefixtures("fleet_worker")
def test_status_lists_the_workers_and_their_queues():
    report = json.loads(fleet("status", "--json").stdout)

    consumed = {queue for queues in report["workers"].values() for queue in queues}
    assert set(WATCHED_QUEUES) <= consumed  # the syncs worker forwards Celery's default queue
    assert all(row["workers"] >= 1 for row in report["queues"])


@pytest.mark.usefixtures("fleet_worker")
def test_call_wait_tells_the_retries_and_run_shows_every_attempt(server):
    flaky = Reply(503, {"busy": True}, headers={"Retry-After": "2"})
    url = server.route("/flaky", flaky, flaky, Reply(200, {"ok": 1}))

    done = fleet_cli("call", "http.request", json.dumps({"url": url}), "--wait")
    run_id = json.loads(done.stdout)["id"]
    shown = fleet("run", run_id)
    row = json.loads(fleet("run", run_id, "--json").stdout)

    assert json.loads(done.stdout)["result"]["body"] == {"ok": 1}
    assert "… retrying after Unavailable" in done.stderr
    events = [(e["event"], e.get("attempt")) for e in row["history"]]
    assert events == [("failed", 1), ("failed", 2), ("succeeded", 3)]
    assert row["history"][0]["error"]["type"] == "Unavailable"
    assert row["history"][0]["retry_in"] >= 2.0
    assert all(e["started_at"] <= e["at"] for e in row["history"])
    assert row["dead_letter_id"] is None and row["attempts"] == 3
    assert shown.exit_code == 0
    assert "attempt 1 failed" in shown.stdout and "attempt 3 succeeded" in shown.stdout
    assert "Unavailable" in shown.stdout and '"ok": 1' in shown.stdout


@pytest.mark.usefixtures("fleet_worker")
def test_run_of_a_dead_run_names_its_dead_letter_and_runs_shows_it(server):
    url = server.route("/gone", Reply(404))
    run_id = fleet("call", "http.request", json.dumps({"url": url})).stdout.strip()
    wait_final(run_id)
    letter_id = letters_of(run_id)[0]["id"]

    shown = fleet("run", run_id)
    listing = json.loads(fleet("runs", "--status", "dead", "--limit", "100", "--json").stdout)
    table = fleet("runs", "--status", "dead", "--limit", "100").stdout

    assert f"dead letter:    {letter_id}" in shown.stdout
    assert "attempt 1 dead" in shown.stdout and "NotFound" in shown.stdout
    assert {r["id"]: r["dead_letter_id"] for r in listing}[run_id] == letter_id
    assert "dead_letter_id" in table


def test_run_of_an_unknown_id_and_runs_with_a_bogus_status_are_errors(ledger_db):
    unknown = fleet("run", "no-such-run")
    bogus = fleet("runs", "--status", "bogus")

    assert unknown.exit_code == 1 and "no run no-such-run" in unknown.output
    assert bogus.exit_code == 1 and "not a run status" in bogus.output
    assert "succeeded" in bogus.output


def test_tools_format_mcp_prints_that_format_without_json():
    shown = fleet("tools", "--format", "mcp")

    assert shown.exit_code == 0
    assert {t["name"] for t in json.loads(shown.stdout)["tools"]} >= {"http__request"}


@pytest.mark.usefixtures("fleet_worker")
def test_dlq_replay_with_corrected_params_waits_for_the_new_run(server):
    bad = server.route("/wrong", Reply(404))
    good = server.route("/right", Reply(200, {"fixed": True}))
    run_id = fleet("call", "http.request", json.dumps({"url": bad})).stdout.strip()
    wait_final(run_id)
    letter_id = letters_of(run_id)[0]["id"]

    invalid = fleet("dlq", "replay", str(letter_id), "--params", '{"url": 5}')
    still = ledger.get_letter(letter_id)
    replayed = fleet(
        "dlq", "replay", str(letter_id), "--params", json.dumps({"url": good}), "--wait"
    )

    assert invalid.exit_code == 1 and "url" in invalid.output
    assert still["state"] == "dead"
    assert replayed.exit_code == 0, replayed.output
    outcome = json.loads(replayed.stdout)
    assert outcome["result"]["body"] == {"fixed": True}
    assert ledger.get_letter(letter_id)["replayed_as"] == outcome["id"]
    assert ledger.get_run(outcome["id"])["params"]["url"] == good


@pytest.mark.usefixtures("fleet_worker")
def test_dlq_bulk_replay_takes_a_tools_letters_since_a_time(server):
    since = datetime.now(UTC).isoformat()
    url = server.route("/bulk", Reply(404), Reply(404), Reply(200, {"second": "time"}))
    runs = [fleet("call", "http.request", json.dumps({"url": url})).stdout.strip() for _ in "ab"]
    letters = sorted(letters_of(wait_final(r)["id"])[0]["id"] for r in runs)

    done = fleet("dlq", "replay", "--tool", "http.request", "--since", since)
    unknown = fleet("dlq", "replay", "--tool", "http.requests", "--since", "1h")
    neither = fleet("dlq", "replay")

    assert done.exit_code == 0, done.output
    assert "2 of 2 dead letters of http.request replayed" in done.stdout
    new_runs = [ledger.get_letter(n)["replayed_as"] for n in letters]
    assert all(wait_final(r)["status"] == "succeeded" for r in new_runs)
    assert unknown.exit_code == 1 and "http.request" in unknown.output
    assert neither.exit_code == 1 and "--tool" in neither.output


@pytest.mark.usefixtures("fleet_worker")
def test_housekeeping_sends_no_task_events_while_tool_calls_do(client):
    from worker.app import app

    seen: list[dict[str, Any]] = []
    with app.connection() as conn:
        receiver = app.events.Receiver(conn, handlers={"*": seen.append})
        listening = threading.Thread(target=receiver.capture, kwargs={"limit": None}, daemon=True)
        listening.start()
        time.sleep(1.0)  # the receiver's queue is bound before anything is sent
        drain = app.send_task("fleet.drain_outbox")
        echo = client.call("fleet.echo", {"message": "after the drain"})
        echo.get(timeout=20)
        wait_for(lambda: any(e.get("uuid") == echo.id and e["type"] == "task-succeeded"
                             for e in list(seen)), 10, what="the echo's events")  # fmt: skip
        receiver.should_stop = True

    about_drain = [e for e in seen if e.get("uuid") == drain.id]
    about_echo = {e["type"] for e in seen if e.get("uuid") == echo.id}
    assert about_drain == []
    assert {"task-sent", "task-received", "task-succeeded"} <= about_echo

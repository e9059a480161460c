"""An operator's shell describes the fleet that is running, not its own environment.

A worker and a beat of the test's own (a broker of their own, the syncs and
the credentials in their environment only) stand for `fleet up`'s children;
`fleet syncs` and `fleet doctor` then run in a shell with no sync and no
credential configured, as a second terminal beside `fleet up` would be.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from sqlalchemy import text

from tests.conftest import GITHUB_SECRET, JIRA_SECRET, SIM_PORT, SIM_URL, SLACK_SECRET
from tests.support import REPO, RedisServer, WorkerProcess, wait_final, wait_for
from worker.ledger.db import engine

BEAT_SYNC = {"name": "boot-issues", "kind": "github.issues", "every": 300, "repo": "octo/hello"}
WORKER_ONLY = {"name": "boot-manual", "kind": "github.commits", "every": 3600, "repo": "octo/hello"}
NAMES = (BEAT_SYNC["name"], WORKER_ONLY["name"])
JIRA_PASSWORD = "hunter2-in-the-url"  # a password in a URL: never shown
CREDENTIALS = ("GITHUB_TOKEN", "SLACK_BOT_TOKEN", "JIRA_API_TOKEN", "JIRA_USERNAME")
URLS = ("GITHUB_API_URL", "SLACK_API_URL", "JIRA_BASE_URL")
SECRETS = (GITHUB_SECRET, SLACK_SECRET, JIRA_SECRET, JIRA_PASSWORD)


@dataclass
class Fleet:
    broker: str
    beat_started: float  # time.monotonic() when beat was started
    logs: Path


def bare_shell(broker: str) -> dict[str, str]:
    """The environment of a second terminal: no syncs, no credentials, no API URLs."""
    env = {k: v for k, v in os.environ.items() if k not in (*CREDENTIALS, *URLS)}
    env.pop("FLEET_SYNCS_FILE", None)
    return {**env, "FLEET_SYNCS": "[]", "FLEET_BROKER_URL": broker}


def run_bare(broker: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *args],
        env=bare_shell(broker),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )


def sync_row(name: str) -> dict[str, Any] | None:
    with engine().connect() as conn:
        row = conn.execute(text("SELECT * FROM sync_state WHERE name = :n"), {"n": name})
        found = row.mappings().first()
    return dict(found) if found else None


@pytest.fixture(scope="module")
def fleet(ledger_db, simulator, tmp_path_factory) -> Iterator[Fleet]:
    logs = tmp_path_factory.mktemp("fleet-view")
    with engine().begin() as conn:
        conn.execute(text("DELETE FROM sync_state WHERE name = ANY(:n)"), {"n": list(NAMES)})
    broker = RedisServer(logs)
    jira_url = f"http://ops:{JIRA_PASSWORD}@127.0.0.1:{SIM_PORT}/jira"
    env = {"FLEET_BROKER_URL": broker.url, "JIRA_BASE_URL": jira_url}
    worker = WorkerProcess(
        logs / "worker.log",
        {**env, "FLEET_SYNCS": json.dumps([BEAT_SYNC, WORKER_ONLY])},
        queues="syncs",
        name="view",
    )
    beat = None
    try:
        worker.wait_ready()
        started = time.monotonic()
        beat = subprocess.Popen(
            [sys.executable, "-m", "worker.cli", "beat", "-l", "INFO"],
            env={**os.environ, **env, "FLEET_SYNCS": json.dumps([BEAT_SYNC])},
            stdout=(logs / "beat.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=REPO,
        )
        yield Fleet(broker.url, started, logs)
    finally:
        if beat is not None:
            beat.terminate()
            try:
                beat.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(beat.pid, signal.SIGKILL)
                beat.wait()
        worker.stop()
        broker.stop()


def test_a_beat_runs_each_sync_once_as_it_starts_not_after_its_interval(fleet):
    row = wait_for(
        lambda: (r := sync_row("boot-issues")) and r["last_outcome"] == "succeeded" and r,
        timeout=20,
        what="the 300 s sync's first run",
    )

    assert time.monotonic() - fleet.beat_started < 20  # not after its interval (300 s)
    assert row["last_counts"]["pages"] >= 1
    assert row["skipped_runs"] == 0


def test_fleet_syncs_in_a_bare_shell_lists_what_the_ledger_knows_and_where_it_is_defined(
    fleet, simulator
):
    wait_for(lambda: (r := sync_row("boot-issues")) and r["last_outcome"], 30, what="a run")
    app = Celery(broker=fleet.broker)  # a run of a sync only the worker's environment has
    manual = app.send_task("sync.github.commits", kwargs={"sync": "boot-manual"}, queue="syncs")
    assert wait_final(manual.id)["status"] == "succeeded"

    listed = {
        row["name"]: row for row in json.loads(run_bare(fleet.broker, "syncs", "--json").stdout)
    }
    screen = run_bare(fleet.broker, "syncs").stdout
    again = run_bare(fleet.broker, "syncs", "run", "boot-manual")

    beat_side, worker_side = listed["boot-issues"], listed["boot-manual"]
    assert beat_side["origin"] == worker_side["origin"] == "ledger"
    assert (beat_side["kind"], beat_side["target"], beat_side["every"]) == (
        "github.issues", "octo/hello", "300s"
    )  # fmt: skip
    assert beat_side["defined_by"].startswith("beat on ")
    assert beat_side["last_outcome"] == "succeeded" and beat_side["next_due"]
    assert (worker_side["kind"], worker_side["target"]) == ("github.commits", "octo/hello@default")
    assert worker_side["defined_by"] is None and worker_side["every"] is None
    assert "ledger only: defined by beat on" in screen
    assert "ledger only: defined by another environment" in screen
    assert again.returncode == 0, again.stderr
    assert wait_final(again.stdout.strip())["status"] == "succeeded"


def test_fleet_doctor_in_a_bare_shell_reports_how_the_workers_are_configured(fleet):
    done = run_bare(fleet.broker, "doctor", "--json")
    screen = run_bare(fleet.broker, "doctor").stdout

    checks = {check["name"]: check for check in json.loads(done.stdout)["checks"]}
    config = checks["config"]
    (host,) = [h for h in config["data"]["workers"] if h.startswith("view@")]
    theirs, mine = config["data"]["workers"][host], config["data"]["this_shell"]
    assert config["verdict"] == "ok"
    assert theirs["github"] == {"configured": True, "api": f"{SIM_URL}/github"}
    assert theirs["slack"]["configured"] and theirs["jira"]["configured"]
    assert theirs["jira"]["api"].startswith("http://***@127.0.0.1:")  # userinfo masked whole
    assert mine["github"] == {"configured": False, "api": "https://api.github.com"}
    assert checks["github"]["verdict"] == "skipped"
    assert "not configured in this shell" in checks["github"]["detail"]
    assert "workers: configured" in checks["github"]["detail"]
    assert "github: this shell not configured (https://api.github.com) | workers configured" in (
        screen
    )
    assert not any(secret in done.stdout + screen for secret in SECRETS)


def test_fleet_doctor_says_so_when_no_worker_answers(tmp_path):
    nobody = RedisServer(tmp_path)
    try:
        started = time.monotonic()
        done = run_bare(nobody.url, "doctor", "--json")
    finally:
        nobody.stop()

    checks = {check["name"]: check for check in json.loads(done.stdout)["checks"]}
    assert checks["config"]["verdict"] == "skipped"
    assert checks["config"]["detail"].startswith("no worker answered within 1s")
    assert checks["config"]["data"]["this_shell"]["github"]["configured"] is False
    assert checks["github"]["detail"] == "not configured in this shell (no credentials)"
    assert done.returncode == 1  # no worker consumes the queues
    assert time.monotonic() - started < 30

"""Incremental syncs through real workers, the simulator and Postgres.

The sync workers here use a broker of their own, with the syncs
configured in their environment; the test process publishes `sync.<kind>`
runs and reads `sync_state` / `synced_items` back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from celery import Celery
from sqlalchemy import text

from tests.conftest import GITHUB_SECRET, JIRA_SECRET, JIRA_USER, SLACK_SECRET
from tests.support import OwnFleet, WorkerProcess, fleet_cli, wait_final, wait_for
from worker.ledger.db import engine
from worker.syncs.config import SyncConfigError, load_entries

SYNCS = [
    {"name": "big", "kind": "github.issues", "every": 3600, "repo": "octo/big"},
    {"name": "hello", "kind": "github.issues", "every": 3600, "repo": "octo/hello"},
    {"name": "hello-commits", "kind": "github.commits", "every": 3600, "repo": "octo/hello"},
    {"name": "ops", "kind": "jira.issues", "every": 3600, "jql": "project = OPS"},
    {"name": "general", "kind": "slack.history", "every": 3600, "channel": "C0001"},
]
SYNC_ENV = {
    "FLEET_SYNCS": json.dumps(SYNCS),
    "FLEET_SYNC_LOOKBACK_SECONDS": "0",
    "FLEET_SYNC_LEASE_SECONDS": "3",
    # Pages are paced by the governor: each page after the first waits its turn (parks).
    "FLEET_RATE_LIMITS": json.dumps(
        {"github": ["5/s"], "jira": ["100/s burst 100"], "slack-tier1": ["100/s burst 100"]}
    ),
}
pytestmark = pytest.mark.slow


@pytest.fixture
def sync_fleet(ledger_db, simulator, own_fleet: OwnFleet) -> OwnFleet:
    with engine().begin() as conn:
        conn.execute(text("DELETE FROM synced_items; DELETE FROM sync_state"))
    own_fleet.env.update(SYNC_ENV)
    return own_fleet


@pytest.fixture
def sync_worker(sync_fleet: OwnFleet) -> WorkerProcess:
    return sync_fleet.worker("sync", queues="syncs")


@pytest.fixture
def app(sync_fleet: OwnFleet, sync_worker: WorkerProcess) -> Celery:
    return sync_fleet.app


def github(sim: Any) -> httpx.Client:
    return httpx.Client(
        base_url=f"{sim.url}/github", headers={"Authorization": f"token {GITHUB_SECRET}"}
    )


def open_issues(sim: Any, repo: str, count: int, *, spread: bool = False) -> None:
    """``count`` new issues in ``repo``; ``spread``: last updated one second apart, an
    hour ago (a repository with history, not 250 issues from the same second)."""
    with github(sim) as gh:
        if gh.get(f"/repos/{repo}").status_code == 404:
            with sim.engine.lock:  # a fresh repository of its own
                state = sim.engine.state.github
                state.repos[repo] = {**state.repos["octo/hello"], "full_name": repo}
                state.issues[repo] = {}
                state.pulls[repo] = {}
                state.labels[repo] = {}
        for n in range(count):
            gh.post(f"/repos/{repo}/issues", json={"title": f"issue {n}"}).raise_for_status()
    if spread:
        base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        with sim.engine.lock:
            for n, issue in enumerate(sim.engine.state.github.issues[repo].values()):
                issue["updated_at"] = base + timedelta(seconds=n)


def run_sync(app: Celery, name: str, **params: Any) -> dict[str, Any]:
    kind = next(entry["kind"] for entry in SYNCS if entry["name"] == name)
    result = app.send_task(f"sync.{kind}", kwargs={"sync": name, **params})
    return wait_final(result.id, timeout=60)


def state(name: str) -> dict[str, Any]:
    with engine().connect() as conn:
        return dict(
            conn.execute(text("SELECT * FROM sync_state WHERE name = :n"), {"n": name})
            .mappings()
            .one()
        )


def items(name: str) -> list[dict[str, Any]]:
    with engine().connect() as conn:
        rows = conn.execute(
            text("SELECT * FROM synced_items WHERE sync_name = :n ORDER BY external_id"),
            {"n": name},
        )
        return [dict(r) for r in rows.mappings()]


def issue_pages(sim: Any, repo: str) -> list[dict[str, Any]]:
    return sim.requests(provider="github", method="GET", path=rf"^/repos/{repo}/issues$")


def test_a_first_run_takes_everything_and_the_next_only_what_changed(app, sim):
    open_issues(sim, "octo/big", 250, spread=True)

    first = run_sync(app, "big")
    cursor = state("big")["cursor"]
    with github(sim) as gh:
        for number in (3, 100, 201):
            gh.patch(f"/repos/octo/big/issues/{number}", json={"title": f"edited {number}"})
    sim.clear_requests()
    second = run_sync(app, "big")

    assert first["status"] == "succeeded"
    assert first["result"]["inserted"] == 250
    assert first["result"]["pages"] == 3
    assert first["parks"] >= 1  # the governor paced the pages: parked, not failed
    assert first["attempts"] == 1
    assert len(items("big")) == 250
    assert second["result"]["inserted"] == 0
    assert second["result"]["updated"] == 3
    assert second["result"]["unchanged"] == 1  # the newest before: read again (same second)
    pages = issue_pages(sim, "octo/big")
    assert pages[0]["query"]["since"] == cursor  # since= the cursor (no lookback here)
    assert len(pages) == 1  # only what changed came back: one page
    edited = {i["external_id"]: i["payload"]["title"] for i in items("big")}
    assert edited["octo/big#100"] == "edited 100"
    assert state("big")["last_counts"]["updated"] == 3


def test_rereading_unchanged_items_writes_nothing(app, sim):
    run_sync(app, "hello")
    before = {i["external_id"]: i["updated_at"] for i in items("hello")}

    again = run_sync(app, "hello", full=True)

    assert again["result"]["unchanged"] == len(before) > 0
    assert again["result"]["inserted"] == again["result"]["updated"] == 0
    assert {i["external_id"]: i["updated_at"] for i in items("hello")} == before


def test_a_worker_killed_mid_sync_resumes_from_its_checkpoint(app, sim, sync_worker, sync_fleet):
    open_issues(sim, "octo/big", 250, spread=True)
    sim.inject("github", method="GET", path=r"^/repos/octo/big/issues$", latency=1.5, times=None)
    app.send_task("sync.github.issues", kwargs={"sync": "big"})
    wait_for(lambda: pages_done("big") == 2, timeout=30, what="two pages")
    sync_worker.kill()  # SIGKILL, the third page in flight
    sim.clear_faults()
    time.sleep(3.2)  # the dead run's lease runs out
    second = sync_fleet.worker("sync2", queues="syncs")
    try:
        resumed = run_sync(app, "big")
    finally:
        second.stop()

    synced = items("big")
    assert resumed["status"] == "succeeded"
    assert resumed["result"]["pages"] == 3  # two before the kill, one after
    assert resumed["result"]["inserted"] == 250
    assert len(synced) == len({i["external_id"] for i in synced}) == 250
    assert state("big")["checkpoint"] is None


def test_a_sync_held_by_a_live_run_is_skipped(app, sim):
    open_issues(sim, "octo/big", 150)
    sim.inject("github", method="GET", path=r"^/repos/octo/big/issues$", latency=1.0, times=None)
    long = app.send_task("sync.github.issues", kwargs={"sync": "big"})
    wait_for(lambda: (state_or_none("big") or {}).get("run_id"), what="the first run")

    skipped = run_sync(app, "big")
    done = wait_final(long.id, timeout=60)

    assert skipped["status"] == "succeeded"
    assert skipped["result"]["skipped"] is True
    assert skipped["result"]["running"] == long.id
    assert done["result"]["inserted"] == 150
    assert state("big")["skipped_runs"] == 1


def test_a_bad_entry_is_refused_naming_the_entry_and_the_field():
    from worker.settings import Settings

    cases = {
        "repo": [{"name": "x", "kind": "github.issues", "every": 5, "repo": "no slash"}],
        "kind": [{"name": "x", "kind": "github.issue", "every": 5, "repo": "o/r"}],
        "every/cron": [{"name": "x", "kind": "github.issues", "repo": "o/r"}],
        "cron": [{"name": "x", "kind": "github.issues", "cron": "every day", "repo": "o/r"}],
        "unexpected": [{"name": "x", "kind": "github.issues", "every": 5, "repo": "o/r", "y": 1}],
    }
    for field, entries in cases.items():
        with pytest.raises(SyncConfigError, match=r"sync 'x' \(entry 1\): .*") as raised:
            load_entries(Settings(syncs=entries))
        assert field.split("/")[0] in str(raised.value) or field == "unexpected"
    with pytest.raises(SyncConfigError, match=r"did you mean github\.issues"):
        load_entries(Settings(syncs=cases["kind"]))


def state_or_none(name: str) -> dict[str, Any] | None:
    with engine().connect() as conn:
        row = conn.execute(text("SELECT * FROM sync_state WHERE name = :n"), {"n": name})
        found = row.mappings().first()
        return dict(found) if found else None


def pages_done(name: str) -> int:
    checkpoint = (state_or_none(name) or {}).get("checkpoint") or {}
    return (checkpoint.get("counts") or {}).get("pages", 0)


def test_a_429_mid_sync_finishes_later_with_every_item_once(app, sim):
    open_issues(sim, "octo/big", 250, spread=True)
    issues = r"^/repos/octo/big/issues$"
    sim.inject("github", method="GET", path=issues, latency=0.1, times=2)  # pages 1 and 2
    sim.inject("github", method="GET", path=issues, status=429, retry_after=1)  # then page 3
    run = app.send_task("sync.github.issues", kwargs={"sync": "big"})

    done = wait_final(run.id, timeout=60)

    synced = items("big")
    statuses = [r["status"] for r in issue_pages(sim, "octo/big")]
    assert done["status"] == "succeeded"
    assert 429 in statuses
    assert statuses.count(200) == 3  # no page read twice: resumed from the checkpoint
    assert done["result"]["pages"] == 3
    assert len(synced) == len({i["external_id"] for i in synced}) == 250


def test_a_full_sync_that_fails_mid_way_resumes_its_reread_instead_of_starting_over(app, sim):
    open_issues(sim, "octo/big", 250, spread=True)
    run_sync(app, "big")  # a cursor for --full to forget
    sim.clear_requests()
    issues = r"^/repos/octo/big/issues$"
    sim.inject("github", method="GET", path=issues, latency=0.1, times=2)  # pages 1 and 2
    sim.inject("github", method="GET", path=issues, status=502)  # then page 3 fails

    done = run_sync(app, "big", full=True)

    pages = issue_pages(sim, "octo/big")
    assert (done["status"], done["attempts"]) == ("succeeded", 2)
    assert "since" not in pages[0]["query"]  # the re-read forgot the cursor, once
    assert [page["status"] for page in pages] == [200, 200, 502, 200]  # page 3 again only
    assert done["result"]["pages"] == 3
    assert done["result"]["inserted"] == done["result"]["updated"] == 0
    assert len(items("big")) == 250


def test_a_github_enterprise_server_without_rate_limiting_syncs_every_page(app, sim):
    sim.configure(github_rate_limiting_disabled=True)  # no x-ratelimit-*, /rate_limit 404s
    open_issues(sim, "octo/big", 120)

    done = run_sync(app, "big")

    assert (done["status"], done["attempts"]) == ("succeeded", 1)
    assert done["result"]["inserted"] == len(items("big")) == 120
    assert done["result"]["pages"] >= 2  # past the first page, where it used to stick
    assert not sim.requests(provider="github", path=r"^/rate_limit$")


def test_two_beat_processes_schedule_a_sync_as_one_would(app, sim, sync_fleet, sync_worker):
    beat_env = {**sync_fleet.env, "FLEET_SYNCS": json.dumps([{**SYNCS[1], "every": 2}])}
    beats = [
        subprocess.Popen(
            [sys.executable, "-m", "worker.cli", "beat", "-l", "INFO"],
            env={**os.environ, **beat_env},
            stdout=(sync_fleet.directory / f"beat{n}.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for n in (1, 2)
    ]
    started = datetime.now(UTC)
    try:
        time.sleep(15)
    finally:
        for beat in beats:
            beat.terminate()
        for beat in beats:
            beat.wait(20)

    with engine().connect() as conn:
        runs = (
            conn.execute(
                text(
                    "SELECT result FROM tool_runs WHERE tool = 'sync.github.issues'"
                    " AND params->>'sync' = 'hello' AND created_at >= :t"
                ),
                {"t": started},
            )
            .scalars()
            .all()
        )
    real = [r for r in runs if r and not r.get("skipped")]
    assert 5 <= len(real) <= 9  # one beat: every 2 s for ~15 s (6-7); two without a lock: ~14


def test_github_commits_first_run_then_only_newer(app, sim):
    first = run_sync(app, "hello-commits")
    cursor = state("hello-commits")["cursor"]
    sim.clear_requests()
    second = run_sync(app, "hello-commits")

    commits = sim.requests(provider="github", path=r"^/repos/octo/hello/commits$")
    assert first["result"]["inserted"] == len(items("hello-commits")) > 0
    assert commits[0]["query"]["since"] == cursor
    assert second["result"]["inserted"] == second["result"]["updated"] == 0


def test_jira_issues_by_jql_first_run_then_only_what_changed(app, sim):
    first = run_sync(app, "ops")
    auth = (JIRA_USER, JIRA_SECRET)
    with httpx.Client(base_url=f"{sim.url}/jira/rest/api/2", auth=auth) as jira:
        for summary in ("Renew the CDN certificate", "Page the on-call less"):
            fields = {"project": {"key": "OPS"}, "summary": summary, "issuetype": {"name": "Task"}}
            jira.post("/issue", json={"fields": fields}).raise_for_status()
        jira.put("/issue/OPS-1", json={"fields": {"summary": "Rotate TLS certificates now"}})
    sim.clear_requests()
    second = run_sync(app, "ops")

    searches = sim.requests(provider="jira", path=r"/rest/api/2/search")
    synced = {i["external_id"]: i["payload"]["summary"] for i in items("ops")}
    assert first["result"]["inserted"] >= 3
    assert 'updated >= "' in searches[0]["query"]["jql"]
    assert second["result"]["inserted"] == 2
    assert second["result"]["updated"] == 1
    assert synced["OPS-1"] == "Rotate TLS certificates now"
    assert len(synced) == first["result"]["inserted"] + 2


def test_slack_history_first_run_then_only_new_messages(app, sim):
    def post(*texts: str) -> None:
        with httpx.Client(base_url=f"{sim.url}/slack/api") as slack:
            for text_ in texts:
                slack.post(
                    "/chat.postMessage",
                    data={"channel": "C0001", "text": text_},
                    headers={"Authorization": f"Bearer {SLACK_SECRET}"},
                ).raise_for_status()

    post(*(f"build {n} passed" for n in range(20)))
    first = run_sync(app, "general")
    cursor = state("general")["cursor"]
    post("deploy started", "deploy done")
    sim.clear_requests()
    second = run_sync(app, "general")

    reads = sim.requests(provider="slack", path="conversations.history")
    sent = {**reads[0]["query"], **(reads[0]["body"] or {})}
    assert first["result"]["inserted"] == len(items("general")) - 2 >= 27  # seeded + 20
    assert first["result"]["pages"] >= 2  # 15 a page
    assert sent["oldest"] == cursor
    assert second["result"]["inserted"] == 2
    assert second["result"]["updated"] == 0
    assert second["result"]["unchanged"] == 1  # the newest before, read again (inclusive)


def test_a_sync_failing_again_and_again_is_flagged_and_fleet_syncs_shows_it(app, sim, sync_fleet):
    sim.inject("github", method="GET", path=r"^/repos/octo/hello/issues$", status=404, times=None)
    for _ in range(3):  # FLEET_SYNC_FAILURES_ALERT defaults to 3
        assert run_sync(app, "hello")["status"] == "dead"  # a 404 is not retried
    sim.clear_faults()

    shown = fleet_cli("syncs", "--json", env=sync_fleet.env)
    listing = {row["name"]: row for row in json.loads(shown.stdout)}
    table = fleet_cli("syncs", env=sync_fleet.env).stdout
    recovered = run_sync(app, "hello")

    hello = listing["hello"]
    assert (hello["failing"], hello["consecutive_failures"]) == (True, 3)
    assert hello["last_outcome"] == "failed"
    assert hello["last_error"]["type"] == "NotFound"
    assert listing["big"]["last_outcome"] is None  # configured, never run
    assert "FAILING x3" in table
    assert recovered["status"] == "succeeded"
    assert state("hello")["consecutive_failures"] == 0


def test_fleet_syncs_run_then_items_show_what_was_synced(app, sim, sync_fleet):
    started = fleet_cli("syncs", "run", "hello", env=sync_fleet.env)
    row = wait_final(started.stdout.strip())
    shown = fleet_cli("syncs", "items", "hello", "--limit", "3", "--json", env=sync_fleet.env)
    listed = json.loads(fleet_cli("syncs", "--json", env=sync_fleet.env).stdout)
    unknown = fleet_cli("syncs", "run", "nope", env=sync_fleet.env, check=False)

    assert row["status"] == "succeeded"
    synced = json.loads(shown.stdout)
    assert len(synced) == 3
    assert all(item["external_id"].startswith("octo/hello#") for item in synced)
    hello = next(s for s in listed if s["name"] == "hello")
    assert hello["last_outcome"] == "succeeded"
    assert hello["counts"]["inserted"] == row["result"]["inserted"]
    assert hello["next_due"] > hello["last_started_at"]
    assert unknown.returncode == 1
    assert "no sync named 'nope'" in unknown.stderr

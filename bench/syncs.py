"""Sync throughput and the cost of re-reading, measured in one run.

    .venv/bin/python -m bench.syncs

A repository of 2,000 issues at the provider simulator. Printed: items per
second a `github.issues` sync stores (one `fleet worker -Q syncs`, from the
run's start to its end in the ledger) vs the rate a plain HTTP client reads
the same pages from the simulator, as a ratio; and the Postgres rows written
per unchanged item when the sync reads everything again (`--full`), from
`pg_stat_user_tables`.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench.support import DATABASE, free_port, start_redis, start_workers, stop

ISSUES, REPO_NAME, PER_PAGE = 2000, "octo/bench", 100
REDIS_PORT, SIM_PORT = free_port(), free_port()
BROKER = f"redis://127.0.0.1:{REDIS_PORT}/0"
os.environ.update(
    FLEET_BROKER_URL=BROKER,
    FLEET_DATABASE_URL=DATABASE,
    FLEET_SYNCS=json.dumps(
        [{"name": "bench", "kind": "github.issues", "every": 3600, "repo": REPO_NAME}]
    ),
    FLEET_SYNC_LOOKBACK_SECONDS="0",
    FLEET_RATE_LIMITS=json.dumps({"github": ["1000/s burst 1000"]}),
    GITHUB_API_URL=f"http://127.0.0.1:{SIM_PORT}/github",
)

import httpx  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bench.report import print_table  # noqa: E402


def seed(sim: object) -> None:
    """``ISSUES`` issues, last updated one second apart over the past hours."""
    from simulator.state import utcnow

    engine = sim.engine  # type: ignore[attr-defined]
    with engine.lock:
        gh = engine.state.github
        gh.repos[REPO_NAME] = {**gh.repos["octo/hello"], "full_name": REPO_NAME}
        gh.pulls[REPO_NAME], gh.labels[REPO_NAME] = {}, {}
        template = next(iter(gh.issues["octo/hello"].values()))
        base = utcnow() - timedelta(seconds=ISSUES + 60)
        gh.issues[REPO_NAME] = {
            n: {
                **template,
                "number": n,
                "id": gh.new_id(),
                "title": f"issue {n}",
                "comments": [],
                "created_at": base,
                "updated_at": base + timedelta(seconds=n),
                "is_pull": False,
            }
            for n in range(1, ISSUES + 1)
        }


def raw_rate(token: str) -> float:
    """Issues per second a plain HTTP client reads, page by page, from the simulator."""
    headers = {"Authorization": f"token {token}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{SIM_PORT}/github", headers=headers) as gh:
        start, read, page = time.perf_counter(), 0, 1
        while True:
            batch = gh.get(
                f"/repos/{REPO_NAME}/issues",
                params={"state": "all", "sort": "updated", "direction": "asc",
                        "per_page": PER_PAGE, "page": page},
            ).json()  # fmt: skip
            read += len(batch)
            if len(batch) < PER_PAGE:
                return read / (time.perf_counter() - start)
            page += 1


def sync_once(full: bool) -> dict:
    from worker import ledger
    from worker.app import app

    run = app.send_task("sync.github.issues", kwargs={"sync": "bench", "full": full})
    run.get(timeout=600, propagate=True)
    for _ in range(100):
        row = ledger.get_run(run.id)
        if row and row["status"] == "succeeded":
            return row
        time.sleep(0.1)
    raise SystemExit("the sync run did not finish")


def row_versions() -> dict[str, str]:
    """Each synced item's row version (xmin changes whenever the row is written)."""
    from worker.ledger.db import engine

    with engine().connect() as conn:
        rows = conn.execute(text("SELECT external_id, xmin::text FROM synced_items"))
        return {external_id: version for external_id, version in rows}


def main() -> None:
    from simulator import Credentials, Simulator
    from worker.ledger.db import engine
    from worker.ledger.schema import migrate

    migrate()
    with engine().begin() as conn:
        conn.execute(text("DELETE FROM synced_items; DELETE FROM sync_state"))
    os.environ["GITHUB_TOKEN"] = Credentials.github_token
    sim = Simulator(port=SIM_PORT).start()
    seed(sim)
    raw = raw_rate(Credentials.github_token)
    with tempfile.TemporaryDirectory() as tmp_dir:
        server = start_redis(REDIS_PORT, Path(tmp_dir))
        workers = []
        try:
            workers = start_workers("syncs", 1, 4, Path(tmp_dir))
            first = sync_once(full=False)
            before = row_versions()
            again = sync_once(full=True)
            after = row_versions()
            writes = len(set(after.items()) - set(before.items()))
        finally:
            stop([*workers, server])
    sim.stop()
    seconds = (first["finished_at"] - first["started_at"]).total_seconds()
    stored = first["result"]["inserted"] / seconds
    unchanged = again["result"]["unchanged"]
    print_table(
        "sync benchmark",
        [
            (f"items/s synced ({ISSUES} issues, {first['result']['pages']} pages) vs raw reads",
             f"{stored:.0f}/s vs {raw:.0f}/s", f"{stored / raw:.2f}"),
            ("Postgres rows written per unchanged item on a --full re-run",
             f"{writes} for {unchanged} items", f"{writes / max(unchanged, 1):.3f}"),
        ],
    )  # fmt: skip


if __name__ == "__main__":
    main()

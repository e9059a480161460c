"""Governor accuracy: four workers hold one fleet-wide limit, measured in one run.

    .venv/bin/python -m bench.governor

Four `fleet worker -Q jira` processes (threads, c=8), the `jira` scope
limited to 20/s with burst 5, 600 `jira.list_projects` calls against the
provider simulator. Printed: achieved rate / limit over the run (the
simulator's own request times), the busiest one-second window vs limit +
burst, dead runs, failure attempts spent on parking (attempts beyond one per
run), parks, and the governor's Redis round trips per admitted call (EVALSHA
calls on a Redis server of the benchmark's own, so nothing else counts).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from bench.support import DATABASE, free_port, start_redis, start_workers, stop

LIMIT, BURST, CALLS, WORKERS, CONCURRENCY = 20, 5, 600, 4, 8


REDIS_PORT, SIM_PORT = free_port(), free_port()
BROKER = f"redis://127.0.0.1:{REDIS_PORT}/0"
os.environ.update(
    FLEET_BROKER_URL=BROKER,
    FLEET_DATABASE_URL=DATABASE,
    FLEET_RATE_LIMITS=f'{{"jira": ["{LIMIT}/s burst {BURST}"]}}',
    JIRA_BASE_URL=f"http://127.0.0.1:{SIM_PORT}/jira",
)

import redis  # noqa: E402

from bench.report import print_table  # noqa: E402


def evalsha_calls(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    # The governor's scripts run as EVALSHA; the workers' broker upkeep (delayed
    # messages, heartbeats) runs plain EVAL on the same server and is not counted.
    return stats.get("cmdstat_evalsha", {}).get("calls", 0)


def main() -> None:
    from simulator import Credentials, Simulator
    from worker import ledger
    from worker.client import FleetClient
    from worker.ledger.schema import migrate

    migrate()
    os.environ.update(JIRA_USERNAME=Credentials.jira_user, JIRA_API_TOKEN=Credentials.jira_token)
    sim = Simulator(port=SIM_PORT).start()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        server = start_redis(REDIS_PORT, tmp)
        workers: list[subprocess.Popen[bytes]] = []
        try:
            workers = start_workers("jira", WORKERS, CONCURRENCY, tmp)
            client = redis.Redis.from_url(BROKER)
            before = evalsha_calls(client)
            fleet = FleetClient()
            calls = [fleet.call("jira.list_projects", {}) for _ in range(CALLS)]
            for call in calls:
                call.async_result.get(timeout=300, propagate=False)
            round_trips = evalsha_calls(client) - before
        finally:
            stop([*workers, server])
    rows = [ledger.get_run(call.id) or {} for call in calls]
    times = sorted(r["timestamp"] for r in sim.requests(provider="jira", path=r"/project$"))
    sim.stop()
    report(rows, times, round_trips)


def report(rows: list[dict], times: list[float], round_trips: int) -> None:
    achieved = (len(times) - BURST) / (times[-1] - times[0])
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    dead = sum(1 for r in rows if r.get("status") == "dead")
    extra_attempts = sum(r.get("attempts", 0) for r in rows) - len(rows)
    parks = sum(r.get("parks", 0) for r in rows)
    lines = [
        (f"achieved rate / limit ({CALLS} calls, {WORKERS} workers)",
         f"{achieved:.2f}/s of {LIMIT}/s", f"{achieved / LIMIT:.3f}"),
        ("busiest 1-s window / (limit + burst)", f"{busiest} of {LIMIT + BURST}",
         f"{busiest / (LIMIT + BURST):.2f}"),
        ("runs dead", str(dead), ""),
        ("failure attempts spent on parking", str(extra_attempts), ""),
        ("parks (not attempts)", str(parks), f"{parks / len(rows):.2f} per run"),
        ("governor Redis round trips per admitted call", str(round_trips),
         f"{round_trips / len(rows):.2f}"),
    ]  # fmt: skip
    print_table("governor benchmark", lines, measured_width=22)


if __name__ == "__main__":
    main()

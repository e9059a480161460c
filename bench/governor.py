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
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIMIT, BURST, CALLS, WORKERS, CONCURRENCY = 20, 5, 600, 4, 8
DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/toolfleet_bench"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


REDIS_PORT, SIM_PORT = _free_port(), _free_port()
BROKER = f"redis://127.0.0.1:{REDIS_PORT}/0"
os.environ.update(
    FLEET_BROKER_URL=BROKER,
    FLEET_DATABASE_URL=DATABASE,
    FLEET_RATE_LIMITS=f'{{"jira": ["{LIMIT}/s burst {BURST}"]}}',
    JIRA_BASE_URL=f"http://127.0.0.1:{SIM_PORT}/jira",
)

import redis  # noqa: E402

from bench.report import print_table  # noqa: E402
from tests.support import REPO  # noqa: E402


def start_redis(tmp: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis.from_url(BROKER)
    for _ in range(100):
        try:
            client.ping()
            return proc
        except redis.ConnectionError:
            time.sleep(0.05)
    raise SystemExit("the benchmark's redis-server did not start")


def start_workers(tmp: Path) -> list[subprocess.Popen[bytes]]:
    from worker.app import app

    procs, nodes = [], []
    for n in range(WORKERS):
        node = f"gov{n}@bench"
        argv = [sys.executable, "-m", "worker.cli", "worker", "-Q", "jira", "-c",
                str(CONCURRENCY), "-P", "threads", "-n", node, "-l", "WARNING"]  # fmt: skip
        log = (tmp / f"{node}.log").open("wb")
        procs.append(subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT))
        nodes.append(node)
    deadline = time.monotonic() + 90
    while len(app.control.ping(destination=nodes, timeout=1.0)) < WORKERS:
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            raise SystemExit(f"workers did not start; logs in {tmp}")
    return procs


def evalsha_calls(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return sum(stats.get(k, {}).get("calls", 0) for k in ("cmdstat_evalsha", "cmdstat_eval"))


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
        server = start_redis(tmp)
        workers: list[subprocess.Popen[bytes]] = []
        try:
            workers = start_workers(tmp)
            client = redis.Redis.from_url(BROKER)
            before = evalsha_calls(client)
            fleet = FleetClient()
            calls = [fleet.call("jira.list_projects", {}) for _ in range(CALLS)]
            for call in calls:
                call.async_result.get(timeout=300, propagate=False)
            round_trips = evalsha_calls(client) - before
        finally:
            for proc in workers:
                proc.terminate()
            for proc in workers:
                proc.wait(30)
            server.terminate()
            server.wait(10)
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

"""What a call, a run, a command and an idle worker cost, beside bench.run's throughput.

- enqueue by name (catalog lookup + validation + publish) vs bare
  ``send_task``, sampled alternately so drift cancels; and enqueue to task
  start at low load (one call every 20 ms to an idle worker: from before the
  publish to the run's ``started_at`` in the ledger, both on this machine's
  clock);
- Redis commands per tool run (bench.commands, on a redis-server of its own);
- ``fleet tools`` / ``fleet call TOOL '{}'`` wall time, as installed (bytecode
  caches written by a first run), beside the time it takes just to import
  what publishing a Celery message to Redis and recording it in Postgres needs;
- resident memory of an idle worker: ``fleet worker -Q http`` (no provider
  SDK) and ``-Q github`` (PyGithub loaded) vs a bare Celery worker with the
  same pool and concurrency.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from bench.drains import bare_worker, fleet_worker, stop
from bench.report import spread
from tests.support import REPO

ROUNDS = 3
ENQUEUES = 300
LOW_LOAD_CALLS = 100
CONCURRENCY = 8
Row = tuple[str, str, str]


def _p(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100)[q - 1]


def enqueue_samples(client: Any, bare: Any) -> tuple[list[float], list[float]]:
    """Publish latency (ms), fleet client vs bare send_task, taken alternately."""
    params = {"method": "POST", "url": "https://api.example.com/x", "json": {"a": 1}}
    calls = (
        lambda: client.call("http.request", params),
        lambda: bare.send_task("http.request", kwargs=params, queue="bench-sink"),
    )
    samples: tuple[list[float], list[float]] = ([], [])
    for i in range(ENQUEUES + 50):
        for call, times in zip(calls, samples, strict=True):
            start = time.perf_counter()
            call()
            if i >= 50:  # warm-up
                times.append((time.perf_counter() - start) * 1000)
    return samples


def start_latencies(client: Any) -> list[float]:
    """Milliseconds from before each publish to its run's start, at low load."""
    from worker import ledger

    sent = []
    for _ in range(LOW_LOAD_CALLS):
        before = time.time()
        sent.append((client.call("fleet.echo", {"message": "x"}).id, before))
        time.sleep(0.02)
    latencies = []
    for run_id, before in sent:
        row = _final(ledger, run_id)
        latencies.append((row["started_at"].timestamp() - before) * 1000)
    return latencies


def _final(ledger: Any, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        row = ledger.get_run(run_id)
        if row and row["status"] == "succeeded":
            return row
        time.sleep(0.05)
    raise SystemExit(f"run {run_id} did not finish")


def latency_rows(client: Any, bare: Any, tmp: Path) -> list[Row]:
    p50, p99 = [], []
    for _ in range(ROUNDS):
        ours, theirs = enqueue_samples(client, bare)
        p50.append((_p(ours, 50), _p(theirs, 50)))
        p99.append((_p(ours, 99), _p(theirs, 99)))
    redis.Redis.from_url(client.app.conf.broker_url).delete("bench-sink")
    worker = fleet_worker("syncs", CONCURRENCY, tmp / "latency.log")
    try:
        client.call("fleet.echo", {"message": "warm-up"}).get(timeout=30)
        starts = [start_latencies(client) for _ in range(ROUNDS)]
    finally:
        stop(worker)
    rows = []
    for label, pairs in (("p50", p50), ("p99", p99)):
        ours = statistics.median(p[0] for p in pairs)
        theirs = statistics.median(p[1] for p in pairs)
        rows.append((
            f"enqueue by name {label}, validated vs bare send_task (target ≤ 1.25)",
            f"{ours:.2f} ms vs {theirs:.2f} ms",
            spread([p[0] / p[1] for p in pairs]),
        ))  # fmt: skip
    for label, q, target in (("p50", 50, 5.0), ("p99", 99, 10.0)):
        values = [_p(s, q) for s in starts]
        rows.append((
            f"enqueue → task start {label} at low load, vs a {target:.0f} ms target",
            f"{statistics.median(values):.2f} ms",
            spread([v / target for v in values]),
        ))  # fmt: skip
    return rows


# What a command-line publisher of a Celery message to Redis that records it in
# Postgres and validates its params cannot avoid importing; it leaves as `fleet`
# does, without module teardown (worker.cli.run).
IMPORT_FLOOR = (
    "-c",
    "import click, celery.app, celery.backends.redis, kombu, redis, psycopg, pydantic_settings;"
    " import os; os._exit(0)",
)


def cli_seconds(*args: str, rounds: int = 9, python_args: tuple[str, ...] = ()) -> list[float]:
    """Wall times of ``fleet ARGS`` (or of ``python PYTHON_ARGS``), each in a process
    of its own, after one untimed run that writes the bytecode caches a deployment has."""
    argv = [sys.executable, *(python_args or ("-m", "worker.cli", *args))]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    times = []
    for i in range(rounds + 1):
        start = time.perf_counter()
        subprocess.run(argv, cwd=REPO, env=env, capture_output=True, check=True)
        if i:
            times.append(time.perf_counter() - start)
    return times


def idle_rss_mb(start: Callable[[], Any], settle: float = 3.0) -> float:
    """Resident memory of a worker once it is ready and idle (its whole process tree)."""
    proc = start()
    try:
        time.sleep(settle)
        return _tree_rss_kb(proc.pid) / 1024
    finally:
        stop(proc)


def _tree_rss_kb(pid: int) -> int:
    total = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            total += int(line.split()[1])
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for child in children.read_text().split() if children.exists() else []:
        total += _tree_rss_kb(int(child))
    return total


def rows(client: Any, bare: Any, tmp: Path) -> list[Row]:
    counted = subprocess.run(
        [sys.executable, "-m", "bench.commands"], cwd=REPO, capture_output=True, check=True
    )
    commands = json.loads(counted.stdout.decode().strip().splitlines()[-1])
    ours, theirs = commands["fleet"], commands["bare"]
    tools, call = cli_seconds("tools"), cli_seconds("call", "fleet.echo", "{}")
    floor = cli_seconds(python_args=IMPORT_FLOOR)
    rss_ours = idle_rss_mb(lambda: fleet_worker("http", CONCURRENCY, tmp / "rss.log"))
    rss_github = idle_rss_mb(lambda: fleet_worker("github", CONCURRENCY, tmp / "rss-gh.log"))
    rss_bare = idle_rss_mb(lambda: bare_worker(CONCURRENCY, tmp / "rss-bare.log", "rss@bench"))
    return [
        ("Redis commands per no-op run, fleet vs bare Celery (target ≤ 10)",
         f"{ours:.1f} vs {theirs:.1f}", f"{ours / theirs:.2f}"),
        ("`fleet tools` wall time, vs a 0.5 s target",
         f"{statistics.median(tools):.2f} s", spread([t / 0.5 for t in tools])),
        ("`fleet call fleet.echo '{}'` wall time, vs a 0.5 s target",
         f"{statistics.median(call):.2f} s", spread([t / 0.5 for t in call])),
        ("  only importing click, Celery (app, Redis backend), redis, psycopg, "
         "pydantic-settings and exiting as `fleet` does, vs 0.5 s",
         f"{statistics.median(floor):.2f} s", spread([t / 0.5 for t in floor])),
        (f"idle worker RSS, `fleet worker -Q http` vs bare Celery (threads c={CONCURRENCY})",
         f"{rss_ours:.0f} MB vs {rss_bare:.0f} MB", f"{rss_ours / rss_bare:.2f}"),
        ("idle worker RSS, `fleet worker -Q github` (PyGithub loaded) vs bare Celery",
         f"{rss_github:.0f} MB vs {rss_bare:.0f} MB", f"{rss_github / rss_bare:.2f}"),
    ]  # fmt: skip

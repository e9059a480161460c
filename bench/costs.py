"""What a run, a command and an idle worker cost, beside the throughput ratios of bench.run.

- Redis commands per tool run: ``INFO commandstats`` before and after a no-op
  drain (publish, delivery, policy, ledger outbox check, events, result), for
  the fleet and for bare Celery doing the same no-op (the server is otherwise
  idle during the benchmark).
- ``fleet tools`` / ``fleet call TOOL '{}'`` wall time, median of a few runs.
- Resident memory of an idle worker: ``fleet worker -Q http`` vs a bare Celery
  worker with the same pool and concurrency.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support import REPO


def redis_commands(client: Any) -> int:
    """Commands the server has run so far (every command, every client)."""
    stats = client.info("commandstats")
    return sum(int(entry["calls"]) for entry in stats.values())


def cli_seconds(*args: str, rounds: int = 3) -> float:
    """Median wall time of ``fleet ARGS`` in a process of its own."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "worker.cli", *args], cwd=REPO, capture_output=True, check=True
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def idle_rss_mb(start: Callable[[], subprocess.Popen[bytes]], settle: float = 3.0) -> float:
    """Resident memory of a worker once it is ready and idle (its whole process tree)."""
    proc = start()
    try:
        time.sleep(settle)
        return _tree_rss_kb(proc.pid) / 1024
    finally:
        proc.terminate()
        proc.wait(30)


def _tree_rss_kb(pid: int) -> int:
    total = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            total += int(line.split()[1])
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for child in children.read_text().split() if children.exists() else []:
        total += _tree_rss_kb(int(child))
    return total

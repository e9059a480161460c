"""Drain rates: how fast a worker empties a queue filled before it starts.

The rate is taken between the first and the last completion as the result
backend recorded them, so neither the publisher's own cost nor the worker's
start-up counts, for the fleet and the baselines alike. Also here: the
workers the benchmarks start (the fleet's, and bare Celery's with the same
pool, concurrency and task events), a sampler of the Postgres connections a
drain holds, and the machine's CPU use over a drain.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support import REPO


@dataclass
class Drain:
    rate: float  # runs per second
    cpu_busy: float  # share of the machine's CPU time in use while it ran
    connections: int  # most Postgres connections open to the bench database meanwhile


def spawn(argv: list[str], log: Path, node: str, env: dict[str, str] | None = None) -> Any:
    """A worker process, not waited for (see :func:`ready`)."""
    argv = [*argv, "-n", node, "-l", "WARNING"]
    return subprocess.Popen(
        argv, cwd=REPO, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def ready(procs: list[Any], nodes: list[str]) -> list[Any]:
    """``procs`` once every one of ``nodes`` answers a ping."""
    from worker.app import app

    deadline = time.monotonic() + 90
    while len(app.control.ping(destination=nodes, timeout=0.5)) < len(nodes):
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            raise SystemExit(f"workers {nodes} did not start (see their logs)")
    return procs


def start(argv: list[str], log: Path, node: str, env: dict[str, str] | None = None) -> Any:
    """A worker process, returned once it answers a ping."""
    return ready([spawn(argv, log, node, env)], [node])[0]


def stop(proc: Any) -> None:
    proc.terminate()
    proc.wait(30)


def fleet_argv(queues: str, concurrency: int) -> list[str]:
    return [sys.executable, "-m", "worker.cli", "worker", "-Q", queues,
            "-c", str(concurrency), "-P", "threads"]  # fmt: skip


def fleet_worker(queues: str, concurrency: int, log: Path, node: str = "") -> Any:
    return start(fleet_argv(queues, concurrency), log, node or f"bench-{queues}@bench")


def bare_worker(concurrency: int, log: Path, node: str, env: dict[str, str] | None = None) -> Any:
    """The baseline worker: same pool, concurrency and task events as the fleet's."""
    argv = [sys.executable, "-m", "celery", "-A", "bench.bare_app", "worker", "-Q", "bare",
            "-c", str(concurrency), "-P", "threads", "-E"]  # fmt: skip
    return start(argv, log, node, env)


def drain(
    start_workers: Callable[[], list[Any]],
    send: Callable[[], Any],
    count: int,
    database: str | None = None,
    *,
    publish_first: bool = True,
) -> Drain:
    """Fill the queue with ``count`` calls, start the workers, time the drain.

    ``publish_first=False``: start the workers first, then publish (several
    workers starting at once are not all up at the same moment; the publisher
    must then outpace them, or the rate measured is its own)."""
    results = [send() for _ in range(count)] if publish_first else []
    with connection_sampler(database) as connections:
        workers = start_workers()
        try:
            with cpu_meter() as cpu:
                results = results or [send() for _ in range(count)]
                done = [result.get(timeout=600) and result.date_done for result in results]
        finally:
            for worker in workers:
                stop(worker)
    seconds = (max(done) - min(done)).total_seconds()
    return Drain((count - 1) / seconds, cpu.busy, max(connections, default=0))


class _Cpu:
    busy = 0.0  # share of the machine's CPU time in use


def _cpu_times() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


@contextmanager
def cpu_meter() -> Iterator[_Cpu]:
    """The share of the machine's CPU time spent busy inside the block."""
    meter = _Cpu()
    busy_before, total_before = _cpu_times()
    yield meter
    busy_after, total_after = _cpu_times()
    meter.busy = (busy_after - busy_before) / max(1, total_after - total_before)


@contextmanager
def connection_sampler(database: str | None) -> Iterator[list[int]]:
    """Samples (every 0.1 s) of the connections open to ``database``'s database."""
    samples: list[int] = []
    if database is None:
        yield samples
        return
    import psycopg

    from worker.ledger.queued import libpq_url

    url = libpq_url(database)
    name = url.rsplit("/", 1)[1]
    done = threading.Event()

    def sample() -> None:
        with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            while not done.wait(0.1):
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)
                ).fetchone()
                samples.append(int(row[0]) if row else 0)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        done.set()
        thread.join(5)

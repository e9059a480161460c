"""What the benchmarks share: free ports, a redis-server of their own, fleet workers."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import redis

from tests.support import REPO

# The benchmarks' ledger database (migrated by each benchmark on start).
DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/toolfleet_bench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis(port: int, tmp: Path) -> subprocess.Popen[bytes]:
    """A redis-server on ``port``: its INFO counts the benchmark's commands alone."""
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            return proc
        except redis.ConnectionError:
            time.sleep(0.05)
    raise SystemExit("the benchmark's redis-server did not start")


def start_workers(
    queue: str, count: int, concurrency: int, tmp: Path
) -> list[subprocess.Popen[bytes]]:
    """``count`` `fleet worker -Q queue` processes, returned once each answers a ping."""
    from worker.app import app

    procs, nodes = [], []
    for n in range(count):
        node = f"{queue}{n}@bench"
        argv = [sys.executable, "-m", "worker.cli", "worker", "-Q", queue, "-c",
                str(concurrency), "-P", "threads", "-n", node, "-l", "WARNING"]  # fmt: skip
        log = (tmp / f"{node}.log").open("wb")
        procs.append(subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT))
        nodes.append(node)
    deadline = time.monotonic() + 90
    while len(app.control.ping(destination=nodes, timeout=1.0)) < count:
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            raise SystemExit(f"workers did not start; logs in {tmp}")
    return procs


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(30)

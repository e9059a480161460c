"""toolfleet benchmarks, each a ratio measured in this one run.

    .venv/bin/python -m bench.run            # prints a table of ratios

1. no-op throughput: `fleet.echo` through the full policy and ledger vs a bare
   Celery no-op task, same broker, same pool and concurrency, task events on
   for both (Flower needs them), same machine. Each worker drains a queue
   filled before it starts; the rate is taken between the first and last
   completion, so the publisher does not compete for the two cores.
2. I/O-bound: `http.request` against a local server answering in 100 ms, a
   threads worker at concurrency C: achieved rate vs the C / latency ceiling,
   and vs a bare Celery task making the same httpx call. The server runs on
   the same two cores, so both are partly CPU-bound here.
3. enqueue-by-name latency: FleetClient.call (catalog lookup + pydantic
   validation + publish) vs bare `send_task`, p50 and p99.
4. costs (bench.costs): Redis commands per no-op run, CLI wall time, idle
   worker memory.

It uses its own Redis db (11) and ledger database (toolfleet_bench).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BROKER = "redis://127.0.0.1:6379/11"
DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/toolfleet_bench"
os.environ.update(
    FLEET_BROKER_URL=BROKER,
    FLEET_DATABASE_URL=DATABASE,
    FLEET_HTTP_ALLOWED_HOSTS="localhost",
)

import redis  # noqa: E402

from bench.costs import cli_seconds, idle_rss_mb, redis_commands  # noqa: E402
from bench.report import print_table  # noqa: E402
from tests.support import REPO, Reply, ScriptedServer  # noqa: E402

NOOP_TASKS = 2000
IO_TASKS = 600
IO_LATENCY = 0.1
CONCURRENCY = 8
IO_CONCURRENCY = 20
ENQUEUES = 1000


def _start(argv: list[str], log: Path, node: str) -> subprocess.Popen[bytes]:
    from worker.app import app

    argv = [*argv, "-n", node, "-l", "WARNING"]
    proc = subprocess.Popen(argv, cwd=REPO, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not app.control.ping(destination=[node], timeout=0.5):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"worker did not start:\n{log.read_text()[-2000:]}")
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(30)


def _drain_rate(start_worker, send, count: int) -> float:
    """Tasks per second a worker drains from a queue filled before it starts.

    Measured between the first and the last result's completion time (as the
    result backend recorded them), so neither the publisher's own cost nor
    the worker's start-up counts, for the fleet and the baseline alike.
    """
    results = [send() for _ in range(count)]
    worker = start_worker()
    try:
        done = [result.get(timeout=300) and result.date_done for result in results]
    finally:
        _stop(worker)
    return (count - 1) / (max(done) - min(done)).total_seconds()


def fleet_worker(queues: str, concurrency: int, log: Path) -> subprocess.Popen[bytes]:
    return _start(
        [
            sys.executable,
            "-m",
            "worker.cli",
            "worker",
            "-Q",
            queues,
            "-c",
            str(concurrency),
            "-P",
            "threads",
        ],
        log,
        f"bench-{queues}@bench",
    )


def bare_worker(concurrency: int, log: Path, node: str) -> subprocess.Popen[bytes]:
    """The baseline worker: same pool, concurrency and task events as the fleet's."""
    argv = [sys.executable, "-m", "celery", "-A", "bench.bare_app", "worker", "-Q", "bare",
            "-c", str(concurrency), "-P", "threads", "-E"]  # fmt: skip
    return _start(argv, log, node)


def bench_noop(tmp: Path) -> tuple[float, float, float, float]:
    """No-op drain rates, and Redis commands per run, fleet vs bare Celery."""
    from bench.bare_app import app as bare
    from worker.client import FleetClient

    client = FleetClient()
    server = redis.Redis.from_url(BROKER)
    before = redis_commands(server)
    ours = _drain_rate(
        lambda: fleet_worker("syncs", CONCURRENCY, tmp / "ours.log"),
        lambda: client.call("fleet.echo", {"message": "x"}).async_result,
        NOOP_TASKS,
    )
    middle = redis_commands(server)
    theirs = _drain_rate(
        lambda: bare_worker(CONCURRENCY, tmp / "bare.log", "bare@bench"),
        lambda: bare.send_task("bare.noop", kwargs={"message": "x"}),
        NOOP_TASKS,
    )
    after = redis_commands(server)
    return ours, theirs, (middle - before) / NOOP_TASKS, (after - middle) / NOOP_TASKS


def bench_io(tmp: Path) -> tuple[float, float]:
    from bench.bare_app import app as bare
    from worker.client import FleetClient

    server = ScriptedServer()
    url = server.route("/slow", Reply(200, {"ok": True}, delay=IO_LATENCY))
    client = FleetClient()
    try:
        ours = _drain_rate(
            lambda: fleet_worker("http", IO_CONCURRENCY, tmp / "io.log"),
            lambda: client.call("http.request", {"url": url}).async_result,
            IO_TASKS,
        )
        theirs = _drain_rate(
            lambda: bare_worker(IO_CONCURRENCY, tmp / "bare-io.log", "bare-io@bench"),
            lambda: bare.send_task("bare.get", kwargs={"url": url}),
            IO_TASKS,
        )
    finally:
        server.close()
    return ours, theirs


def bench_enqueue() -> tuple[list[float], list[float]]:
    """Publish latency, fleet client vs bare send_task, sampled alternately (drift cancels)."""
    from bench.bare_app import app as bare
    from worker.client import FleetClient

    client = FleetClient()
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


def _p(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100)[int(q) - 1]


def main() -> None:
    from worker.ledger.schema import migrate

    redis.Redis.from_url(BROKER).flushdb()
    migrate()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        ours, bare, ours_cmds, bare_cmds = bench_noop(tmp)
        io_rate, io_bare = bench_io(tmp)
        rss_ours = idle_rss_mb(lambda: fleet_worker("http", CONCURRENCY, tmp / "rss.log"))
        rss_bare = idle_rss_mb(lambda: bare_worker(CONCURRENCY, tmp / "rss-bare.log", "rss@bench"))
    tools_s, call_s = cli_seconds("tools"), cli_seconds("call", "fleet.echo", "{}")
    redis.Redis.from_url(BROKER).flushdb()
    enqueue_ours, enqueue_bare = bench_enqueue()
    redis.Redis.from_url(BROKER).flushdb()
    ceiling = IO_CONCURRENCY / IO_LATENCY
    rows = [
        (
            "no-op throughput, policy+ledger vs bare Celery (threads c=8)",
            f"{ours:.0f}/s vs {bare:.0f}/s",
            f"{ours / bare:.2f}",
        ),
        (
            f"I/O-bound http.request, {IO_LATENCY * 1000:.0f} ms provider, c={IO_CONCURRENCY}",
            f"{io_rate:.0f}/s of {ceiling:.0f}/s ceiling",
            f"{io_rate / ceiling:.2f}",
        ),
        (
            "I/O-bound, same HTTP call in bare Celery (httpx)",
            f"{io_bare:.0f}/s of {ceiling:.0f}/s ceiling",
            f"{io_bare / ceiling:.2f}",
        ),
        (
            "I/O-bound, policy+ledger+SSRF guard vs bare Celery",
            f"{io_rate:.0f}/s vs {io_bare:.0f}/s",
            f"{io_rate / io_bare:.2f}",
        ),
        (
            "enqueue-by-name p50, validated vs bare send_task",
            f"{_p(enqueue_ours, 50):.2f} ms vs {_p(enqueue_bare, 50):.2f} ms",
            f"{_p(enqueue_ours, 50) / _p(enqueue_bare, 50):.2f}",
        ),
        (
            "enqueue-by-name p99, validated vs bare send_task",
            f"{_p(enqueue_ours, 99):.2f} ms vs {_p(enqueue_bare, 99):.2f} ms",
            f"{_p(enqueue_ours, 99) / _p(enqueue_bare, 99):.2f}",
        ),
    ]
    rows += [
        (
            "Redis commands per run (no-op), fleet vs bare Celery",
            f"{ours_cmds:.1f} vs {bare_cmds:.1f}",
            f"{ours_cmds / bare_cmds:.2f}",
        ),
        ("`fleet tools` wall time (target 0.5 s)", f"{tools_s:.2f} s", f"{tools_s / 0.5:.2f}"),
        (
            "`fleet call fleet.echo '{}'` wall time (target 0.5 s)",
            f"{call_s:.2f} s",
            f"{call_s / 0.5:.2f}",
        ),
        (
            f"idle worker RSS, fleet -Q http vs bare Celery (threads c={CONCURRENCY})",
            f"{rss_ours:.0f} MB vs {rss_bare:.0f} MB",
            f"{rss_ours / rss_bare:.2f}",
        ),
    ]
    print_table("benchmark", rows)


if __name__ == "__main__":
    main()

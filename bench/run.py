"""toolfleet benchmarks: the policy's cost, each row a ratio measured in this one run.

    .venv/bin/python -m bench.run            # prints the table (about 8 minutes)

Every throughput row is the median of ROUNDS rounds, each measuring the
fleet and its baseline back to back (their order alternating between
rounds, so a drifting machine favours neither); the spread across rounds is
printed beside it. Rows:

1. no-op: `fleet.echo` through the full policy and ledger vs a bare Celery
   no-op task, same broker, pool, concurrency and task events, Redis results;
2. fast HTTP: `http.request` GETs of a local server answering at once vs a
   bare Celery task making the same httpx call;
3. I/O-bound: the same against a server answering in 100 ms at c=20, vs the
   bare task and vs the c / latency ceiling;
4. vs stock Celery keeping results in Postgres (its SQLAlchemy backend, same
   database): no-op rates, and the most connections each held;
5. enqueue by name (catalog lookup, validation, publish) vs bare `send_task`,
   p50 / p99; enqueue to task start at low load (bench.costs);
6. scaling: 1, 2, 4 and 8 worker processes on one queue (bench.scaling);
7. costs (bench.costs, bench.commands): Redis commands per run, CLI wall
   time, idle memory.

It uses its own Redis db (11) and ledger database (toolfleet_bench).
"""

from __future__ import annotations

import os
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.support import DATABASE, free_port

BROKER = "redis://127.0.0.1:6379/11"
os.environ.update(
    FLEET_BROKER_URL=BROKER,
    FLEET_DATABASE_URL=DATABASE,
    FLEET_HTTP_ALLOWED_HOSTS="localhost",
)

import redis  # noqa: E402

from bench import costs, provider, scaling  # noqa: E402
from bench.drains import Drain, bare_worker, drain, fleet_worker  # noqa: E402
from bench.report import print_table, spread  # noqa: E402

ROUNDS = 3
NOOP_TASKS = 1200
HTTP_TASKS = 700
IO_TASKS = 500
DB_BACKEND_TASKS = 300
IO_LATENCY = provider.SLOW_SECONDS
CONCURRENCY = 8
IO_CONCURRENCY = 20
DB_BACKEND = "db+" + DATABASE

Pair = tuple[Drain, Drain]


def rounds(measure: Callable[[int], Pair]) -> list[Pair]:
    return [measure(n) for n in range(ROUNDS)]


def side_by_side(round_no: int, ours: Callable[[], Drain], theirs: Callable[[], Drain]) -> Pair:
    if round_no % 2:
        theirs_first = theirs()
        return ours(), theirs_first
    first = ours()
    return first, theirs()


def ratio_row(what: str, pairs: list[Pair], unit: str = "/s") -> tuple[str, str, str]:
    ours = statistics.median(p[0].rate for p in pairs)
    theirs = statistics.median(p[1].rate for p in pairs)
    ratios = [p[0].rate / p[1].rate for p in pairs]
    return what, f"{ours:.0f}{unit} vs {theirs:.0f}{unit}", spread(ratios)


def bench_noop(tmp: Path, client, bare, round_no: int) -> Pair:
    return side_by_side(
        round_no,
        lambda: drain(
            lambda: [fleet_worker("syncs", CONCURRENCY, tmp / "ours.log")],
            lambda: client.call("fleet.echo", {"message": "x"}).async_result,
            NOOP_TASKS,
        ),
        lambda: drain(
            lambda: [bare_worker(CONCURRENCY, tmp / "bare.log", "bare@bench")],
            lambda: bare.send_task("bare.noop", kwargs={"message": "x"}),
            NOOP_TASKS,
        ),
    )


def bench_http(
    tmp: Path, client, bare, url: str, count: int, concurrency: int, round_no: int
) -> Pair:
    return side_by_side(
        round_no,
        lambda: drain(
            lambda: [fleet_worker("http", concurrency, tmp / "http.log")],
            lambda: client.call("http.request", {"url": url}).async_result,
            count,
        ),
        lambda: drain(
            lambda: [bare_worker(concurrency, tmp / "bare-http.log", "bare-http@bench")],
            lambda: bare.send_task("bare.get", kwargs={"url": url}),
            count,
        ),
    )


def bench_db_backend(tmp: Path, client, round_no: int) -> Pair:
    """The fleet's no-op vs bare Celery storing its results with its SQLAlchemy backend."""
    from celery import Celery

    stock = Celery("bare", broker=BROKER, backend=DB_BACKEND)
    stock.conf.update(task_default_queue="bare", result_serializer="json")
    env = {"BARE_RESULT_BACKEND": DB_BACKEND}
    try:
        return side_by_side(
            round_no,
            lambda: drain(
                lambda: [fleet_worker("syncs", CONCURRENCY, tmp / "ours-db.log")],
                lambda: client.call("fleet.echo", {"message": "x"}).async_result,
                DB_BACKEND_TASKS,
                DATABASE,
            ),
            lambda: drain(
                lambda: [bare_worker(CONCURRENCY, tmp / "bare-db.log", "bare-db@bench", env)],
                lambda: stock.send_task("bare.noop", kwargs={"message": "x"}),
                DB_BACKEND_TASKS,
                DATABASE,
            ),
        )
    finally:
        stock.close()


def main() -> None:
    from bench.bare_app import app as bare
    from worker.client import FleetClient
    from worker.ledger.schema import migrate

    redis.Redis.from_url(BROKER).flushdb()
    migrate()
    client = FleetClient()
    port = free_port()
    server = provider.start(port)
    fast, slow = f"http://localhost:{port}/fast", f"http://localhost:{port}/slow"
    rows: list[tuple[str, str, str]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp_dir:
            tmp = Path(tmp_dir)
            noop = rounds(lambda n: bench_noop(tmp, client, bare, n))
            http = rounds(lambda n: bench_http(tmp, client, bare, fast, HTTP_TASKS, CONCURRENCY, n))
            io = rounds(lambda n: bench_http(tmp, client, bare, slow, IO_TASKS, IO_CONCURRENCY, n))
            db = rounds(lambda n: bench_db_backend(tmp, client, n))
            ceiling = IO_CONCURRENCY / IO_LATENCY
            rows += [
                ratio_row(f"no-op, policy + ledger vs bare Celery (threads c={CONCURRENCY})", noop),
                ratio_row(
                    f"fast local HTTP GET, http.request vs bare httpx task (c={CONCURRENCY})", http
                ),
                ratio_row(
                    f"I/O-bound, {IO_LATENCY * 1000:.0f} ms provider (c={IO_CONCURRENCY}), "
                    "vs bare Celery",
                    io,
                ),
                (
                    "I/O-bound vs the c / latency ceiling, fleet (bare)",
                    f"{statistics.median(p[0].rate for p in io):.0f}/s of {ceiling:.0f}/s",
                    f"{spread([p[0].rate / ceiling for p in io])} "
                    f"({statistics.median(p[1].rate / ceiling for p in io):.2f})",
                ),
                ratio_row("no-op vs stock Celery with its SQLAlchemy result backend", db),
                (
                    "most Postgres connections held, fleet vs SQLAlchemy backend",
                    f"{max(p[0].connections for p in db)} vs {max(p[1].connections for p in db)}",
                    "",
                ),
            ]
            rows += costs.latency_rows(client, bare, tmp)
            rows += scaling.rows(client, slow, tmp)
            rows += costs.rows(client, bare, tmp)
    finally:
        server.terminate()
        redis.Redis.from_url(BROKER).flushdb()
    print_table(f"benchmark (median of {ROUNDS} rounds, spread in brackets)", rows, 34)


if __name__ == "__main__":
    main()

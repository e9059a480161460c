"""Scaling out: 1, 2, 4 and 8 `fleet worker -Q http` processes draining one queue.

Each process runs threads at c=4 against a local server answering in 100 ms
(so one process alone is far from using a core), published to once all are
up (the publisher outpaces them); the rate of n processes is
compared with n times the rate of one, and the machine's CPU use over each
drain says where the cores saturate (the server, Redis, Postgres and the
benchmark share them with the workers).
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from bench.drains import Drain, drain, fleet_argv, ready, spawn
from bench.report import spread

PROCESSES = (1, 2, 4, 8)
CONCURRENCY = 4
CALLS_PER_PROCESS = 120
ROUNDS = 3


def drain_with(processes: int, client: Any, url: str, tmp: Path) -> Drain:
    nodes = [f"scale{n}@bench" for n in range(processes)]
    return drain(
        lambda: ready(
            [spawn(fleet_argv("http", CONCURRENCY), tmp / f"{node}.log", node) for node in nodes],
            nodes,
        ),
        lambda: client.call("http.request", {"url": url}).async_result,
        CALLS_PER_PROCESS * processes,
        publish_first=False,
    )


def rows(client: Any, url: str, tmp: Path) -> list[tuple[str, str, str]]:
    results = {n: [drain_with(n, client, url, tmp) for _ in range(ROUNDS)] for n in PROCESSES}
    one = statistics.median(d.rate for d in results[1])
    out = []
    for n in PROCESSES[1:]:
        rates = [d.rate for d in results[n]]
        cpu = statistics.median(d.cpu_busy for d in results[n])
        efficiency = [rate / (n * one) for rate in rates]
        out.append((
            f"{n} worker processes vs {n} x one (100 ms provider, c={CONCURRENCY} each)",
            f"{statistics.median(rates):.0f}/s vs {n} x {one:.0f}/s, CPU {cpu:.0%} busy",
            spread(efficiency),
        ))  # fmt: skip
    return out

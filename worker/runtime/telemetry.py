"""Counters and histograms of tool runs, aggregated fleet-wide in one Redis hash.

The tool policy reports each run's end, each provider call and each park
here. A worker process counts in memory and adds its counts to the hash
:data:`METRICS_KEY` every :data:`FLUSH_SECONDS` — one pipelined round trip
per process, however busy — so ``fleet metrics`` reads fleet-wide totals
from one place and a deployment is one scrape target, wherever its workers
run. A worker killed with SIGKILL loses at most its last few seconds of
counts: these are metrics, the ledger is the record.

Hash fields are JSON arrays: ``["toolfleet_runs_total", tool, status]``;
histograms keep per-bucket counts (``[name, tool, upper bound]``) plus
``_sum`` and ``_count`` fields; the exporter makes the buckets cumulative.
"""

from __future__ import annotations

import atexit
import functools
import json
import logging
import os
import threading
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from worker.fleet_redis import fleet_redis

logger = logging.getLogger(__name__)

METRICS_KEY = "fleet:metrics"
FLUSH_SECONDS = 5.0
RUN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, float("inf"))
CALL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, float("inf"))
RUN_DURATION = "toolfleet_run_duration_seconds"
CALL_DURATION = "toolfleet_provider_call_duration_seconds"
HISTOGRAMS = {RUN_DURATION: RUN_BUCKETS, CALL_DURATION: CALL_BUCKETS}


@functools.lru_cache(maxsize=4096)  # a few names x tools x statuses: built once each
def field(*parts: Any) -> str:
    return json.dumps([str(p) for p in parts], separators=(",", ":"))


def bound(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(float(value))


class Recorder:
    """One process's pending counts and the thread that flushes them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: Counter[str] = Counter()
        self._pid = 0
        self._wake = threading.Event()

    def add(self, *counts: tuple[str, float]) -> None:
        """Add ``(field, amount)`` pairs (under one lock: this runs on every call)."""
        with self._lock:
            if self._pid != os.getpid():  # first use, or a forked child: own thread
                self._pid = os.getpid()
                self._pending.clear()
                threading.Thread(target=self._loop, name="fleet-metrics", daemon=True).start()
            for key, amount in counts:
                self._pending[key] += amount

    def observe(self, histogram: str, tool: str, seconds: float, *also: tuple[str, float]) -> None:
        """One observation of ``histogram``, added with the counts ``also``."""
        seconds = max(0.0, seconds)
        upper = next(b for b in HISTOGRAMS[histogram] if seconds <= b)
        self.add(
            (field(histogram, tool, bound(upper)), 1.0),
            (field(f"{histogram}_sum", tool), seconds),
            (field(f"{histogram}_count", tool), 1.0),
            *also,
        )

    def flush(self) -> None:
        """Add the pending counts to Redis; kept for the next try if Redis is away."""
        with self._lock:
            pending, self._pending = self._pending, Counter()
        if not pending:
            return
        try:
            pipe = fleet_redis().pipeline(transaction=False)
            for key, amount in pending.items():
                pipe.hincrbyfloat(METRICS_KEY, key, amount)
            pipe.execute()
        except Exception as exc:  # noqa: BLE001 — metrics must never fail a run
            logger.warning("metrics not flushed (kept for the next try): %s", exc)
            with self._lock:
                self._pending.update(pending)

    def _loop(self) -> None:
        while True:
            self._wake.wait(FLUSH_SECONDS)
            self.flush()


_recorder = Recorder()
atexit.register(_recorder.flush)


# ---- what the tool policy reports ----------------------------------------------------


def run_ended(tool: str, status: str, started_at: datetime | None) -> None:
    """A run reached ``succeeded`` or ``dead``; its duration runs from its first start."""
    count = (field("toolfleet_runs_total", tool, status), 1.0)
    if started_at is None:
        _recorder.add(count)
    else:
        seconds = (datetime.now(UTC) - started_at).total_seconds()
        _recorder.observe(RUN_DURATION, tool, seconds, count)


def provider_called(tool: str, seconds: float) -> None:
    """One attempt: a call to the provider (its lookups for an earlier write included)."""
    _recorder.observe(CALL_DURATION, tool, seconds, (field("toolfleet_attempts_total", tool), 1.0))


def parked(tool: str) -> None:
    _recorder.add((field("toolfleet_parks_total", tool), 1.0))


def broker_lost(outcome: str, runs: int) -> None:
    """Runs whose messages the broker lost: ``republished`` or ``lost`` (worker.broker.lost)."""
    if runs:
        _recorder.add((field("toolfleet_lost_runs_total", outcome), float(runs)))


def flush() -> None:
    """Flush this process's counts now (at shutdown; tests)."""
    _recorder.flush()

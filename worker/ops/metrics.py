"""The Prometheus exporter behind ``fleet metrics``: the whole fleet, one scrape target.

Everything is read at scrape time from where the fleet already keeps it, so
one exporter per deployment sees every worker on every host (no
multiprocess directory to share, nothing lost when a worker restarts):

- Redis: queue depths, the outbox, the governor's buckets and circuits, and
  the run counters and histograms the workers aggregate there
  (worker.runtime.telemetry);
- Postgres: runs in flight by status, dead letters by state, sync lag;
- the workers themselves: one control ping (``active_queues``) for who
  consumes what.

A source that cannot be read is reported by ``toolfleet_source_up{source}``
= 0 and its series are left out of that scrape; the scrape itself succeeds.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from worker.runtime.telemetry import HISTOGRAMS, METRICS_KEY, bound

logger = logging.getLogger(__name__)

COUNTERS = {
    "toolfleet_runs": ("Tool runs that ended, by tool and final status.", ["tool", "status"]),
    "toolfleet_attempts": ("Provider calls made (attempts), by tool.", ["tool"]),
    "toolfleet_parks": ("Waits that were not failures (rate limits, circuits), by tool.", ["tool"]),
    "toolfleet_lost_runs": (
        "Waiting runs whose messages the broker lost: republished, or lost (params masked).",
        ["outcome"],
    ),
}
HISTOGRAM_HELP = {
    "toolfleet_run_duration_seconds": "From a run's first start to its final outcome.",
    "toolfleet_provider_call_duration_seconds": "One attempt's call to the provider.",
}
METRIC_NAMES = (
    "toolfleet_queue_depth",
    "toolfleet_workers",
    "toolfleet_runs_active",
    "toolfleet_dead_letters",
    "toolfleet_outbox_length",
    "toolfleet_outbox_failed",
    "toolfleet_governor_tokens",
    "toolfleet_governor_closed",
    "toolfleet_circuit_open",
    "toolfleet_sync_lag_seconds",
    "toolfleet_sync_consecutive_failures",
    "toolfleet_source_up",
    *(f"{name}_total" for name in COUNTERS),
    *HISTOGRAM_HELP,
)


class WorkerWatch:
    """Who consumes which queue, refreshed in the background: a control ping waits its
    whole timeout for replies, which a scrape (timeout: its interval) must not."""

    def __init__(self, app: Any, every: float = 5.0, timeout: float = 1.0) -> None:
        self.app, self.every, self.timeout = app, every, timeout
        self.latest: dict[str, list[str]] | None = None
        threading.Thread(target=self._loop, name="worker-watch", daemon=True).start()

    def _loop(self) -> None:
        from worker.ops.inspect import workers_by_queue

        while True:
            try:
                self.latest = workers_by_queue(self.app, timeout=self.timeout)
            except Exception as exc:  # noqa: BLE001 — the broker may be away for a while
                logger.warning("metrics: workers not inspected: %s", exc)
                self.latest = None
            time.sleep(self.every)


class FleetCollector(Collector):
    """Builds every ``toolfleet_*`` family on each scrape."""

    def __init__(self, app: Any, watch: WorkerWatch) -> None:
        self.app = app
        self.watch = watch

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "toolfleet_source_up",
            "1 if the exporter read this source on this scrape.",
            None,
            ["source"],
        )
        for source, read in (("redis", self._from_redis), ("postgres", self._from_ledger)):
            families = _guarded(source, read)
            up.add_metric([source], 0.0 if families is None else 1.0)
            yield from families or []
        yield from _guarded("workers", self._workers) or []
        yield up

    # -- sources ------------------------------------------------------------------------

    def _from_redis(self) -> list[Metric]:
        from worker.fleet_redis import fleet_redis
        from worker.ledger import outbox
        from worker.ops.inspect import queue_depths
        from worker.runtime.governor.state import fleet_snapshot

        client = fleet_redis()  # the process's pooled client, not a new pool per scrape
        depth = GaugeMetricFamily(
            "toolfleet_queue_depth", "Messages waiting in each queue.", None, ["queue"]
        )
        for queue, count in queue_depths(self.app).items():
            depth.add_metric([queue], count)
        backlog = GaugeMetricFamily(
            "toolfleet_outbox_length", "Ledger writes waiting in Redis for Postgres."
        )
        backlog.add_metric([], outbox.length())
        set_aside = GaugeMetricFamily(
            "toolfleet_outbox_failed",
            "Kept ledger writes that could not be applied (not an outage): set aside.",
        )
        set_aside.add_metric([], outbox.failed())
        return [
            depth,
            backlog,
            set_aside,
            *_governor(fleet_snapshot(client)),
            *_aggregates(client.hgetall(METRICS_KEY)),
        ]

    def _from_ledger(self) -> list[Metric]:
        from worker.ledger import stats
        from worker.syncs import store

        active = GaugeMetricFamily(
            "toolfleet_runs_active", "Runs not yet final, by status.", None, ["status"]
        )
        for status, count in stats.active_runs().items():
            active.add_metric([status], count)
        letters = GaugeMetricFamily(
            "toolfleet_dead_letters", "Dead letters by state.", None, ["state"]
        )
        for state, count in stats.letters_by_state().items():
            letters.add_metric([state], count)
        return [active, letters, *_syncs(store.states())]

    def _workers(self) -> list[Metric]:
        latest = self.watch.latest
        if latest is None:  # not inspected yet (or the broker is away): say nothing
            return []
        workers = GaugeMetricFamily(
            "toolfleet_workers", "Workers consuming each queue (answered a ping).", None, ["queue"]
        )
        for queue, names in latest.items():
            workers.add_metric([queue], len(names))
        return [workers]


def _guarded(source: str, read: Callable[[], list[Metric]]) -> list[Metric] | None:
    try:
        return read()
    except Exception as exc:  # noqa: BLE001 — one source down must not fail the scrape
        logger.warning("metrics: %s unreadable: %s", source, exc)
        return None


def _governor(state: dict[str, Any]) -> list[Metric]:
    tokens = GaugeMetricFamily(
        "toolfleet_governor_tokens",
        "Calls the fleet may still start now in each rate scope (its tightest bucket).",
        None,
        ["scope"],
    )
    closed = GaugeMetricFamily(
        "toolfleet_governor_closed",
        "1 while the provider has closed the scope (Retry-After, remaining 0).",
        None,
        ["scope"],
    )
    for row in state["scopes"]:
        if row["limits"]:
            tokens.add_metric([row["scope"]], min(b["available"] for b in row["limits"]))
        closed.add_metric([row["scope"]], 1.0 if row["closed_for"] > 0 else 0.0)
    circuits = GaugeMetricFamily(
        "toolfleet_circuit_open",
        "1 while the provider's circuit is open (calls park until a probe succeeds).",
        None,
        ["provider"],
    )
    for provider, circuit in state["circuits"].items():
        circuits.add_metric([provider], 0.0 if circuit["state"] == "closed" else 1.0)
    return [tokens, closed, circuits]


def _aggregates(raw: dict[bytes, bytes]) -> list[Metric]:
    """Counters and histograms from the workers' hash (see worker.runtime.telemetry)."""
    values: dict[tuple[str, ...], float] = {}
    for key, value in raw.items():
        try:
            values[tuple(json.loads(key))] = float(value)
        except ValueError:
            continue
    families: list[Metric] = []
    for name, (help_text, labels) in COUNTERS.items():
        counter = CounterMetricFamily(name, help_text, labels=labels)
        for key, value in sorted(values.items()):
            if key[0] == f"{name}_total":
                counter.add_metric(list(key[1:]), value)
        families.append(counter)
    for name, bounds in HISTOGRAMS.items():
        histogram = HistogramMetricFamily(name, HISTOGRAM_HELP[name], labels=["tool"])
        tools = sorted({key[1] for key in values if key[0] == f"{name}_count"})
        for tool in tools:
            running, buckets = 0.0, []
            for upper in bounds:
                running += values.get((name, tool, bound(upper)), 0.0)
                buckets.append((bound(upper), running))
            histogram.add_metric([tool], buckets, values.get((f"{name}_sum", tool), 0.0))
        families.append(histogram)
    return families


def _syncs(states: list[dict[str, Any]]) -> list[Metric]:
    lag = GaugeMetricFamily(
        "toolfleet_sync_lag_seconds",
        "Seconds since the sync last brought its data up to date.",
        None,
        ["sync"],
    )
    failures = GaugeMetricFamily(
        "toolfleet_sync_consecutive_failures", "Failed runs in a row, by sync.", None, ["sync"]
    )
    now = datetime.now(UTC)
    for state in states:
        since = state["last_success_at"] or state["last_started_at"]
        if since is not None:
            lag.add_metric([state["name"]], (now - since).total_seconds())
        failures.add_metric([state["name"]], state["consecutive_failures"])
    return [lag, failures]


def serve(app: Any, port: int, address: str) -> None:
    """Serve ``/metrics`` until interrupted (prometheus_client's threaded server)."""
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(app, WorkerWatch(app)))
    start_http_server(port, address, registry=registry)
    while True:
        time.sleep(3600)

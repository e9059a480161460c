"""`fleet metrics`: the whole fleet's Prometheus metrics from one exporter process.

The exporter, a worker and (when Debian's ``prometheus`` package is there) a
real Prometheus server run as processes of the test's own, on a Redis of the
test's own, so every count can be asserted exactly: queue depths against
what Redis holds, run counters and histograms against the calls made.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from celery import Celery
from prometheus_client.parser import text_string_to_metric_families

from tests.support import (
    REPO,
    RedisServer,
    Reply,
    WorkerProcess,
    free_port,
    wait_final,
    wait_for,
)
from worker.client import FleetClient
from worker.ledger import stats
from worker.ops.metrics import METRIC_NAMES

pytestmark = pytest.mark.usefixtures("ledger_db")


class Exporter:
    """A `fleet metrics` process; :meth:`scrape` returns ``{(name, labels): value}``."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.log = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "worker.cli", "metrics", f"--port={self.port}"],
            cwd=REPO,
            env={**__import__("os").environ, **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}/metrics"
        wait_for(self._answers, 30, 0.2, what="the metrics endpoint")

    def _answers(self) -> bool:
        try:
            return httpx.get(self.url, timeout=10).status_code == 200
        except httpx.TransportError:
            return False

    def scrape(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        reply = httpx.get(self.url, timeout=10)
        assert reply.status_code == 200
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(reply.text)
            for sample in family.samples
        }

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def exporter(own_redis: RedisServer, tmp_path: Path) -> Iterator[Exporter]:
    exporter = Exporter({"FLEET_BROKER_URL": own_redis.url}, tmp_path / "metrics.log")
    yield exporter
    exporter.stop()


def _value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def _publish(broker: str, counts: dict[str, int]) -> None:
    publisher = Celery(broker=broker)
    for queue, count in counts.items():
        for n in range(count):
            publisher.send_task(f"{queue}.anything", kwargs={"n": n}, queue=queue)


def test_queue_depth_ledger_counts_and_sources_are_exported(exporter, own_redis):
    _publish(own_redis.url, {"github": 4, "jira": 1})

    def inspected() -> dict | None:
        found = exporter.scrape()
        return found if _value(found, "toolfleet_workers", queue="github") is not None else None

    samples = wait_for(inspected, 10, 0.3, what="the exporter's first look at the workers")

    redis = own_redis.client()
    for queue in ("github", "slack", "jira", "http", "syncs"):
        assert _value(samples, "toolfleet_queue_depth", queue=queue) == redis.llen(queue)
    assert _value(samples, "toolfleet_queue_depth", queue="github") == 4
    assert _value(samples, "toolfleet_workers", queue="github") == 0
    assert _value(samples, "toolfleet_source_up", source="redis") == 1
    assert _value(samples, "toolfleet_source_up", source="postgres") == 1
    assert _value(samples, "toolfleet_outbox_length") == 0
    assert _value(samples, "toolfleet_outbox_failed") == 0
    for status, count in stats.active_runs().items():
        assert _value(samples, "toolfleet_runs_active", status=status) == count
    for state, count in stats.letters_by_state().items():
        assert _value(samples, "toolfleet_dead_letters", state=state) == count
    exported = {name for name, _ in samples}
    assert {n for n in METRIC_NAMES if not n.endswith(("_seconds", "_total", "_lag_seconds"))} - {
        "toolfleet_governor_tokens",
        "toolfleet_governor_closed",
        "toolfleet_circuit_open",
        "toolfleet_sync_consecutive_failures",
    } <= exported


def test_runs_attempts_and_durations_are_counted_across_the_fleet(
    own_redis, tmp_path, server, simulator
):
    env = {"FLEET_BROKER_URL": own_redis.url}
    worker = WorkerProcess(tmp_path / "worker.log", env=env, queues="http")
    worker.wait_ready()
    exporter = Exporter(env, tmp_path / "metrics.log")
    try:
        ok = server.route("/ok", Reply(200, {"fine": True}))
        refused = server.route("/refused", Reply(404, {"error": "gone"}))
        client = FleetClient(_app_on(own_redis.url))
        calls = [client.call("http.request", {"url": url}) for url in (ok, ok, refused)]
        assert [wait_final(c.id)["status"] for c in calls] == ["succeeded", "succeeded", "dead"]

        def counted() -> dict | None:
            samples = exporter.scrape()
            ended = _value(samples, "toolfleet_runs_total", tool="http.request", status="dead")
            return samples if ended == 1 else None

        samples = wait_for(counted, 20, 0.5, what="the workers' counts to reach Redis")
        assert _value(samples, "toolfleet_runs_total", tool="http.request", status="succeeded") == 2
        assert _value(samples, "toolfleet_attempts_total", tool="http.request") == 3
        assert _value(samples, "toolfleet_workers", queue="http") == 1
        for histogram in (
            "toolfleet_run_duration_seconds",
            "toolfleet_provider_call_duration_seconds",
        ):
            assert _value(samples, f"{histogram}_count", tool="http.request") == 3
            assert _value(samples, f"{histogram}_bucket", tool="http.request", le="+Inf") == 3
            assert 0 < _value(samples, f"{histogram}_sum", tool="http.request") < 30
    finally:
        exporter.stop()
        worker.stop()


def test_an_unreadable_ledger_is_reported_and_the_rest_still_exported(own_redis, tmp_path):
    closed = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/toolfleet"
    exporter = Exporter(
        {"FLEET_BROKER_URL": own_redis.url, "FLEET_DATABASE_URL": closed}, tmp_path / "m.log"
    )
    try:
        _publish(own_redis.url, {"slack": 2})
        samples = exporter.scrape()
        assert _value(samples, "toolfleet_source_up", source="postgres") == 0
        assert _value(samples, "toolfleet_source_up", source="redis") == 1
        assert _value(samples, "toolfleet_queue_depth", queue="slack") == 2
        assert not any(name == "toolfleet_runs_active" for name, _ in samples)
    finally:
        exporter.stop()


@pytest.mark.skipif(
    shutil.which("prometheus") is None,
    reason="needs Debian's `prometheus` package (apt-get install prometheus)",
)
def test_a_real_prometheus_scrapes_queue_depth_equal_to_what_redis_holds(
    exporter, own_redis, tmp_path
):
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: toolfleet\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{exporter.port}']}}]\n"
    )
    log = (tmp_path / "prometheus.log").open("wb")
    prometheus = subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        for sent in ({"github": 3, "http": 1}, {"github": 2}):
            _publish(own_redis.url, sent)
            held = {q: own_redis.client().llen(q) for q in ("github", "http", "slack")}

            def queried(held: dict[str, int] = held) -> dict[str, float] | None:
                try:
                    reply = httpx.get(
                        f"http://127.0.0.1:{port}/api/v1/query",
                        params={"query": "toolfleet_queue_depth"},
                        timeout=5,
                    )
                except httpx.TransportError:
                    return None
                results = reply.json()["data"]["result"] if reply.status_code == 200 else []
                depths = {r["metric"]["queue"]: float(r["value"][1]) for r in results}
                return depths if all(depths.get(q) == n for q, n in held.items()) else None

            depths = wait_for(queried, 60, 0.5, what=f"Prometheus to see depths {held}")
            assert depths["github"] == held["github"]
        assert held["github"] == 5
    finally:
        prometheus.terminate()
        prometheus.wait(15)
        log.close()


def _app_on(broker: str) -> Celery:
    """The fleet's app, publishing to another broker (as an agent elsewhere would)."""
    from worker.app import create_app

    app = create_app()
    app.conf.broker_url = broker
    app.conf.result_backend = broker
    return app

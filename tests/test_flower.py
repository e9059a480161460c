"""Flower reads the fleet's broker: queue lengths on its Broker page and HTTP API.

Flower picks its broker reader by the URL scheme Celery reports; the fleet's
guarded transport is registered under ``redis://`` so that scheme stays one
Flower knows. Messages are published onto a Redis of the test's own with no
worker consuming them, so the lengths are exactly what was sent.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from celery import Celery

from tests.support import REPO, RedisServer, free_port, wait_for


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    yield server
    server.stop()


def test_flower_reports_the_real_length_of_every_queue(redis_server, tmp_path):
    publisher = Celery(broker=redis_server.url)
    sent = {"github": 3, "slack": 1, "http": 2}
    for queue, count in sent.items():
        for n in range(count):
            publisher.send_task(f"{queue}.anything", kwargs={"n": n}, queue=queue)

    port = free_port()
    log = (tmp_path / "flower.log").open("wb")
    flower = subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "flower", f"--port={port}"],
        cwd=REPO,
        env={**os.environ, "FLEET_BROKER_URL": redis_server.url},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def lengths() -> dict[str, int] | None:
            try:
                reply = httpx.get(f"http://127.0.0.1:{port}/api/queues/length", timeout=5)
            except httpx.TransportError:
                return None
            assert reply.status_code == 200, reply.text
            return {q["name"]: q["messages"] for q in reply.json()["active_queues"]}

        reported = wait_for(lengths, 30, 0.3, what="Flower's queue lengths")
        held = {q: redis_server.client().llen(q) for q in reported}
        assert reported == held
        assert reported == {**{q: 0 for q in reported}, **sent}
        page = httpx.get(f"http://127.0.0.1:{port}/broker", timeout=5)
        assert page.status_code == 200
        assert "not supported" not in page.text
    finally:
        flower.terminate()
        flower.wait(10)
        log.close()

"""Shared fixtures: a fresh ledger database, a Redis db of the tests' own, a real worker.

The environment is set before anything imports the fleet, so the test
process (the agent side) and the worker processes it starts agree on where
the broker and the ledger are.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

REDIS_HOST = "redis://127.0.0.1:6379"
TEST_DB = "toolfleet_test"
GITHUB_SECRET = "ghp_TestTokenThatMustNeverLeak0123456789"
WEBHOOK_SECRET = "whsec_TestSigningSecretNeverLogged"

TEST_ENV = {
    "FLEET_BROKER_URL": f"{REDIS_HOST}/15",
    "FLEET_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{TEST_DB}",
    "FLEET_HTTP_ALLOWED_HOSTS": "localhost",
    "FLEET_RETRY_BASE_SECONDS": "0.2",
    "FLEET_RETRY_CAP_SECONDS": "2",
    "FLEET_WEBHOOK_SECRETS": f'{{"default": "{WEBHOOK_SECRET}"}}',
    "GITHUB_TOKEN": GITHUB_SECRET,
    "FLEET_WORKER_CONCURRENCY": "8",
}
os.environ.update(TEST_ENV)

from tests.support import ScriptedServer, WorkerProcess  # noqa: E402


@pytest.fixture(scope="session")
def ledger_db() -> str:
    """A freshly created and migrated ledger database."""
    import psycopg

    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {TEST_DB} WITH (FORCE)")
    from worker.db import migrate

    migrate()
    return TEST_ENV["FLEET_DATABASE_URL"]


@pytest.fixture(scope="session")
def redis_clean() -> None:
    import redis

    redis.Redis.from_url(TEST_ENV["FLEET_BROKER_URL"]).flushdb()


@pytest.fixture(scope="session")
def fleet_worker(
    ledger_db: str, redis_clean: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """One real worker process consuming every queue, for the whole session."""
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    worker = WorkerProcess(log, env={}, queues="github,slack,jira,http,syncs")
    worker.wait_ready()
    yield worker
    worker.stop()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    yield srv
    srv.close()


@pytest.fixture(scope="session")
def client() -> Any:
    from worker.client import FleetClient

    return FleetClient()

"""Shared fixtures: a fresh ledger database, a Redis db of the tests' own, a real worker.

The environment is set before anything imports the fleet, so the test
process (the agent side) and the worker processes it starts agree on where
the broker and the ledger are.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

REDIS_HOST = "redis://127.0.0.1:6379"
# Developers running several test sessions at once give each its own slot:
# its own ledger database and main Redis db (the `fleet up` and governor
# tests use fixed dbs and are meant for slot 0).
SLOT = int(os.environ.get("TOOLFLEET_TEST_SLOT", "0"))
TEST_DB = "toolfleet_test" + (f"_{SLOT}" if SLOT else "")
MAIN_REDIS_DB = {0: 15, 1: 8, 2: 7, 3: 6, 4: 2, 5: 1}[SLOT]
GITHUB_SECRET = "ghp_TestTokenThatMustNeverLeak0123456789"
SLACK_SECRET = "xoxb-test-slack-token-never-leaks"
JIRA_USER = "sim@example.com"
JIRA_SECRET = "jira-test-api-token-never-leaks"
WEBHOOK_SECRET = "whsec_TestSigningSecretNeverLogged"
PARTNER_SECRET = "partner-key-0123456789-never-shown"
TLS_ONLY_SECRET = "tls-only-key-0123456789-never-shown"
# A key being rotated (newest first) and one whose receiver verifies X-Signature-256.
ROTATING_SECRETS = ("whsec_TmV3ZXN0U2lnbmluZ1NlY3JldE5ldmVyTG9nZ2Vk", "whsec_T2xkU2lnbmluZ0tleQ")
LEGACY_WEBHOOK_SECRET = "legacy-signing-secret-never-logged"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The provider simulator's port is chosen now so that every process started
# by the tests (workers included) is pointed at it through the environment.
SIM_PORT = _free_port()
SIM_URL = f"http://127.0.0.1:{SIM_PORT}"

# Everything below is derived from the provider declarations (no provider is named):
# importing them reads no setting, so the environment is still the tests' to set.
from simulator import Credentials  # noqa: E402
from worker.providers import declarations  # noqa: E402
from worker.queues import QUEUES  # noqa: E402

# The credentials the tests' simulator accepts (each a secret that must never leak).
SIM_CREDENTIALS = Credentials(
    github_token=GITHUB_SECRET,
    slack_token=SLACK_SECRET,
    jira_user=JIRA_USER,
    jira_token=JIRA_SECRET,
)
RELAXED_KINDS = tuple(kind for d in declarations() for kind in d.limits)
SIMULATED_ENV = {
    name: value
    for d in declarations()
    if d.simulate is not None
    for name, value in d.simulate.env(SIM_URL, SIM_CREDENTIALS).items()
}

TEST_ENV = {
    "FLEET_BROKER_URL": f"{REDIS_HOST}/{MAIN_REDIS_DB}",
    "FLEET_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{TEST_DB}",
    "FLEET_HTTP_ALLOWED_HOSTS": "localhost",
    "FLEET_RETRY_BASE_SECONDS": "0.2",
    "FLEET_RETRY_CAP_SECONDS": "2",
    "FLEET_WEBHOOK_SECRETS": json.dumps(
        {
            "default": WEBHOOK_SECRET,
            "rotating": list(ROTATING_SECRETS),
            "legacy": {"secrets": [LEGACY_WEBHOOK_SECRET], "format": "x-signature-256"},
        }
    ),
    "FLEET_HTTP_CREDENTIALS": json.dumps(
        {
            "partner": {
                "header": "X-Api-Key",
                "value": PARTNER_SECRET,
                "hosts": ["localhost"],
                "plain_http_hosts": ["localhost"],  # the test servers speak plain http
            },
            "tls-only": {"header": "X-Api-Key", "value": TLS_ONLY_SECRET, "hosts": ["localhost"]},
        }
    ),
    **SIMULATED_ENV,
    "FLEET_PROVIDER_TIMEOUT_SECONDS": "5",
    # The providers' published limits (Slack history: 1/min) would make the suite
    # wait for minutes; the governor's own tests set the limits they exercise.
    "FLEET_RATE_LIMITS": json.dumps({kind: ["1000/s burst 1000"] for kind in RELAXED_KINDS}),
    "FLEET_WORKER_CONCURRENCY": "8",
}
os.environ.update(TEST_ENV)

from tests.support import OwnFleet, ScriptedServer, WorkerProcess  # noqa: E402


@pytest.fixture(scope="session")
def ledger_db() -> str:
    """A freshly created and migrated ledger database."""
    import psycopg

    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {TEST_DB} WITH (FORCE)")
    from worker.ledger.schema import migrate

    migrate()
    return TEST_ENV["FLEET_DATABASE_URL"]


@pytest.fixture(scope="session")
def redis_clean() -> None:
    import redis

    redis.Redis.from_url(TEST_ENV["FLEET_BROKER_URL"]).flushdb()


@pytest.fixture(scope="session")
def simulator() -> Iterator[Any]:
    """The provider simulator (GitHub, Slack, Jira) every test process and worker talks to."""
    from simulator import Simulator

    sim = Simulator(
        port=SIM_PORT,
        github_token=GITHUB_SECRET,
        slack_token=SLACK_SECRET,
        jira_user=JIRA_USER,
        jira_token=JIRA_SECRET,
    ).start()
    yield sim
    sim.stop()


@pytest.fixture
def sim(simulator: Any) -> Any:
    """The simulator, reset to its seed state with no faults and no recorded requests;
    the governor forgets what it learned from the simulator before (its windows, 429s)."""
    import redis

    simulator.reset()
    broker = redis.Redis.from_url(TEST_ENV["FLEET_BROKER_URL"])
    for key in broker.scan_iter("fleet:gov:*"):
        broker.delete(key)
    return simulator


@pytest.fixture(scope="session")
def fleet_worker(
    ledger_db: str,
    redis_clean: None,
    simulator: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WorkerProcess]:
    """One real worker process consuming every queue, for the whole session."""
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    worker = WorkerProcess(log, env={}, queues=",".join(QUEUES))
    worker.wait_ready()
    yield worker
    worker.stop()


@pytest.fixture
def own_fleet(tmp_path: Any) -> Iterator[OwnFleet]:
    """A broker, app, client and workers of the test's own (tests.support.fleet)."""
    fleet = OwnFleet(tmp_path)
    yield fleet
    fleet.close()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    yield srv
    srv.close()


@pytest.fixture(scope="session")
def client() -> Any:
    from worker.client import FleetClient

    return FleetClient()

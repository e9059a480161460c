"""`fleet doctor` and the `fleet.doctor` tool: every part checked, who the fleet acts as,
clear failures with a non-zero exit, never a secret, never `GET /user`."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner

from tests.conftest import GITHUB_SECRET, JIRA_SECRET, SLACK_SECRET
from tests.support import fleet_cli, free_port
from worker.cli import main

SECRETS = (GITHUB_SECRET, SLACK_SECRET, JIRA_SECRET)


def doctor(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["doctor", *args])
    return result.exit_code, result.output


def verdicts(output: str) -> dict[str, dict]:
    return {check["name"]: check for check in json.loads(output)["checks"]}


@pytest.mark.usefixtures("fleet_worker")
def test_a_healthy_fleet_passes_and_says_who_it_acts_as(sim):
    code, output = doctor("--json")
    _, screen = doctor()

    checks = verdicts(output)
    assert code == 0, output
    assert {name: c["verdict"] for name, c in checks.items()} == dict.fromkeys(
        ("redis", "ledger", "workers", "config", "github", "jira", "slack"), "ok"
    )
    assert "personal access token" in checks["github"]["data"]["acts_as"]
    assert checks["github"]["data"]["limits"]["core"].endswith(
        tuple(f"resets in {n}s" for n in range(3601))
    )
    assert "bot" in checks["slack"]["detail"] and "sim@example.com" in checks["jira"]["detail"]
    assert checks["ledger"]["data"]["migration"]
    assert "✓ github   acts as a personal access token" in screen and "all good" in screen
    assert not any(secret in output + screen for secret in SECRETS)


@pytest.mark.usefixtures("fleet_worker")
def test_an_app_installation_token_is_checked_without_get_user(sim):
    sim.configure(github_app_installation=True)

    code, output = doctor("--json")

    assert code == 0, output
    paths = [r["path"] for r in sim.requests(provider="github")]
    assert "/rate_limit" in paths
    assert not any(path.rstrip("/") == "/user" for path in paths)


@pytest.mark.usefixtures("fleet_worker")
def test_refused_credentials_fail_the_doctor_with_one_clear_line(sim):
    sim.inject("slack", path=r"^auth\.test$", unauthorized=True)

    code, output = doctor()

    assert code == 1
    (line,) = [line for line in output.splitlines() if line.startswith("✗")]
    assert line.startswith("✗ slack    credentials refused: Unauthorized")
    assert "problems: slack" in output
    assert not any(secret in output for secret in SECRETS)


@pytest.mark.parametrize(
    ("setting", "value", "check", "says"),
    [
        ("FLEET_BROKER_URL", "redis://127.0.0.1:{port}/0", "redis", "cannot reach redis://"),
        ("FLEET_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:{port}/x", "ledger",
         "cannot reach the ledger database"),
        ("FLEET_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/toolfleet_absent",
         "ledger", "run `fleet migrate`"),
    ],
    ids=["redis-down", "postgres-down", "no-database"],
)  # fmt: skip
def test_an_unreachable_part_fails_quickly_and_clearly(setting, value, check, says):
    started = time.monotonic()
    done = fleet_cli("doctor", "--json", env={setting: value.format(port=free_port())}, check=False)

    checks = verdicts(done.stdout)
    assert done.returncode == 1
    assert checks[check]["verdict"] == "failed" and says in checks[check]["detail"]
    assert time.monotonic() - started < 30


@pytest.mark.usefixtures("fleet_worker")
def test_the_fleet_doctor_tool_runs_the_same_checks_on_a_worker(client, sim):
    outcome = client.call("fleet.doctor", {}).get(timeout=60)

    assert outcome["ok"] is True
    assert [c["name"] for c in outcome["checks"]] == [
        "redis", "ledger", "workers", "config", "github", "jira", "slack"
    ]  # fmt: skip
    assert not any(secret in json.dumps(outcome) for secret in SECRETS)

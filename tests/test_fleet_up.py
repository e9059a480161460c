"""`fleet up` end to end: every queue's worker, beat and Flower; a call over Flower's
HTTP API with correlation headers; Ctrl-C stops everything cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading

import httpx
import pytest
import redis

from tests.conftest import REDIS_HOST
from tests.support import REPO, Reply, wait_final, wait_for
from worker.queues import QUEUES


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_fleet_up_serves_flower_http_calls_and_stops_cleanly_on_ctrl_c(ledger_db, server):
    """Also: with no provider credentials, the providers are simulated."""
    port = _free_port()
    broker = f"{REDIS_HOST}/13"
    redis.Redis.from_url(broker).flushdb()
    sim_port = _free_port()
    # No provider credentials: `fleet up` must run the simulator and say so.
    provider_vars = {
        "GITHUB_TOKEN",
        "GITHUB_API_URL",
        "SLACK_BOT_TOKEN",
        "SLACK_API_URL",
        "JIRA_BASE_URL",
        "JIRA_USERNAME",
        "JIRA_API_TOKEN",
    }
    env = {k: v for k, v in os.environ.items() if k not in provider_vars}
    env.update(
        FLEET_BROKER_URL=broker, FLEET_FLOWER_PORT=str(port), FLEET_SIMULATOR_PORT=str(sim_port)
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "up", "--concurrency", "2"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    threading.Thread(
        target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True
    ).start()
    try:
        wait_for(
            lambda: sum(" ready." in line for line in lines) == len(QUEUES),
            60,
            what="a ready worker per queue",
        )
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}/healthcheck"), 30, what="Flower")
        url = server.route("/via-flower", Reply(200, {"from": "flower"}))

        response = httpx.post(
            f"http://127.0.0.1:{port}/api/task/send-task/http.request",
            json={
                "kwargs": {"url": url},
                "headers": {"agent_task_id": "agent-http", "step_id": "7"},
            },
            timeout=10,
        )

        assert response.status_code == 200, response.text
        run_id = response.json()["task-id"]
        row = wait_final(run_id)
        assert row["status"] == "succeeded"
        assert (row["agent_task_id"], row["step_id"]) == ("agent-http", "7")
        assert row["worker"].startswith("http@")
        result = httpx.get(f"http://127.0.0.1:{port}/api/task/result/{run_id}", timeout=10)
        assert result.json()["result"]["body"] == {"from": "flower"}
        assert any("beat" in line and "Starting" in line for line in lines)
        assert any(
            "Providers SIMULATED" in line and "GitHub, Slack, Jira" in line for line in lines
        )
        repo = wait_final(_send(port, "github.get_repository", {"repo": "octo/hello"}))
        assert repo["status"] == "succeeded", repo["error"]
        assert repo["result"]["default_branch"] == "main"
        assert any("Demo syncs" in line and "demo-github-issues" in line for line in lines)
        synced = wait_final(_send(port, "sync.github.issues", {"sync": "demo-github-issues"}))
        assert synced["status"] == "succeeded", synced["error"]
        assert synced["result"]["inserted"] > 0
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
    assert code == 0, "".join(lines[-40:])
    assert any("stopping" in line for line in lines)
    children = (
        r"worker\.cli (beat|flower)$|worker\.cli worker -Q \w+ -n \w+@%h -c 2$"
        rf"|worker\.cli sim --port {sim_port}$"
    )
    leftovers = subprocess.run(["pgrep", "-f", children], capture_output=True, text=True)
    assert leftovers.stdout == ""


def _send(port: int, task: str, kwargs: dict[str, object]) -> str:
    """Publish ``task`` through Flower's HTTP API; its run id."""
    url = f"http://127.0.0.1:{port}/api/task/send-task/{task}"
    return httpx.post(url, json={"kwargs": kwargs}, timeout=10).json()["task-id"]


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False

"""`fleet up` end to end: every queue's worker, beat, Flower, the metrics exporter and
the simulator; a call over Flower's HTTP API with correlation headers; Ctrl-C stops
the workers first, so a call in flight still succeeds, then the rest, leaving no
process behind; a busy port is refused in one line before anything starts.

Each test watches only its own process tree (tests/reaper.py), never the machine's:
another `fleet up` running beside the suite changes nothing here."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from simulator import SimulatorClient
from tests.conftest import REDIS_HOST, SIMULATED_ENV
from tests.support import REPO, Reply, free_port, wait_final, wait_for
from worker import ledger
from worker.cli.up import Listener, port_problems
from worker.queues import QUEUES

BROKER = f"{REDIS_HOST}/13"
# What points the providers at the tests' simulator (the declarations'), and the demo's
# signing key: without them `fleet up` simulates every provider itself.
PROVIDER_VARS = (*SIMULATED_ENV, "FLEET_WEBHOOK_SECRETS")
PORT_SETTINGS = {
    "simulator": "FLEET_SIMULATOR_PORT",
    "flower": "FLEET_FLOWER_PORT",
    "metrics": "FLEET_METRICS_PORT",
    "mcp": "FLEET_MCP_PORT",
}


@dataclass
class Fleet:
    """A `fleet up` under tests/reaper.py, in a directory of its own (its cwd, HOME
    and TMPDIR), on free ports, with no provider credentials (so: simulated)."""

    proc: subprocess.Popen[str]
    lines: list[str]
    ports: dict[str, int]
    home: Path
    report: Path
    reader: threading.Thread
    code: int | None = None

    def url(self, name: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.ports[name]}{path}"

    def output(self) -> str:
        return "".join(self.lines)

    def stop(self) -> int:
        """Ctrl-C, and wait for `fleet up` to exit; if it hangs, kill its tree."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.code = self.proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGQUIT)  # the reaper kills `fleet up` and the rest
            self.code = self.proc.wait(timeout=30)
        return self.code

    def leftovers(self) -> list[dict[str, Any]]:
        """The processes `fleet up` started that outlived it (killed since)."""
        return json.loads(self.report.read_text())


def start_fleet(tmp_path: Path, *args: str, ports: dict[str, int] | None = None) -> Fleet:
    home = tmp_path / "home"
    (home / "tmp").mkdir(parents=True)
    ports = ports or {name: free_port() for name in PORT_SETTINGS}
    env = {k: v for k, v in os.environ.items() if k not in PROVIDER_VARS}
    env.update({PORT_SETTINGS[name]: str(port) for name, port in ports.items()})
    env.update(FLEET_BROKER_URL=BROKER, HOME=str(home), TMPDIR=str(home / "tmp"))
    report = tmp_path / "leftovers.json"
    reaper = [sys.executable, str(REPO / "tests" / "reaper.py"), str(report), "--"]
    proc = subprocess.Popen(
        [*reaper, sys.executable, "-m", "worker.cli", "up", *args],
        cwd=home,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    assert proc.stdout is not None
    stdout = proc.stdout
    reader = threading.Thread(target=lambda: lines.extend(iter(stdout.readline, "")), daemon=True)
    reader.start()
    return Fleet(proc, lines, ports, home, report, reader)


@contextlib.contextmanager
def running_fleet(tmp_path: Path, *args: str) -> Iterator[Fleet]:
    """A fleet whose workers, Flower, exporter and simulator all answer; Ctrl-C after."""
    redis.Redis.from_url(BROKER).flushdb()
    fleet = start_fleet(tmp_path, "--concurrency", "2", *args)

    def ready() -> bool:
        assert fleet.proc.poll() is None, fleet.output()[-3000:]
        return sum(" ready." in line for line in fleet.lines) == len(QUEUES)

    try:
        wait_for(ready, 60, what="a ready worker per queue")
        wait_for(lambda: _answers(fleet.url("flower", "/healthcheck")), 30, what="Flower")
        wait_for(lambda: _answers(fleet.url("metrics", "/metrics")), 30, what="the exporter")
        wait_for(lambda: _answers(fleet.url("mcp", "/events")), 30, what="the MCP server")
        SimulatorClient(fleet.url("simulator")).wait_ready(30)
        yield fleet
    finally:
        fleet.stop()


@pytest.mark.slow
def test_fleet_up_serves_calls_metrics_and_simulated_providers_then_stops_cleanly(
    ledger_db, server, tmp_path
):
    with running_fleet(tmp_path) as fleet:
        url = server.route("/via-flower", Reply(200, {"from": "flower"}))

        response = httpx.post(
            fleet.url("flower", "/api/task/send-task/http.request"),
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
        result = httpx.get(fleet.url("flower", f"/api/task/result/{run_id}"), timeout=10)
        assert result.json()["result"]["body"] == {"from": "flower"}
        assert any("beat" in line and "Starting" in line for line in fleet.lines)
        assert any(
            "Providers SIMULATED" in line and "GitHub, Jira, Slack" in line for line in fleet.lines
        )
        metrics_url = fleet.url("metrics", "/metrics")
        assert f"Metrics: {metrics_url}\n" in fleet.lines
        assert "toolfleet_queue_depth" in httpx.get(metrics_url, timeout=10).text
        repo = wait_final(_send(fleet, "github.get_repository", {"repo": "octo/hello"}))
        assert repo["status"] == "succeeded", repo["error"]
        assert repo["result"]["default_branch"] == "main"
        assert any("Demo syncs" in line and "demo-github-issues" in line for line in fleet.lines)
        # A demo fleet signs webhooks with a key of its own, never shown.
        assert "Demo webhook signing key 'default' (FLEET_WEBHOOK_SECRETS): random\n" in [
            line.split("| ", 1)[-1] for line in fleet.lines
        ]
        hook = server.route("/hook", Reply(200, {}))
        sent = wait_final(_send(fleet, "webhook.send", {"url": hook, "payload": {"done": True}}))
        assert sent["status"] == "succeeded", sent["error"]
        (delivery,) = server.requests_to("/hook")
        assert delivery.headers["webhook-signature"].startswith("v1,")
        # Each kind of agent, as the README shows it: Python, broker only, HTTP, MCP.
        for name, expected in README_EXAMPLES.items():
            lang, code = readme_example(fleet, name)
            ran = subprocess.run(
                [sys.executable, "-c", code] if lang == "python" else
                ["bash", "-euo", "pipefail", "-c", code],
                env={**os.environ, "FLEET_BROKER_URL": BROKER}, capture_output=True,
                text=True, timeout=120,
            )  # fmt: skip
            assert ran.returncode == 0, f"README example {name}:\n{ran.stderr[-3000:]}"
            assert re.search(expected, ran.stdout, re.M), f"{name} printed:\n{ran.stdout}"
        synced = wait_final(_send(fleet, "sync.github.issues", {"sync": "demo-github-issues"}))
        assert synced["status"] == "succeeded", synced["error"]
        assert synced["result"]["inserted"] > 0

    assert fleet.code == 0, fleet.output()[-3000:]
    assert any("stopping" in line for line in fleet.lines)
    assert fleet.leftovers() == []
    # Beat keeps its schedule in the fleet's own Redis database, not in a file that
    # every fleet of the machine would share: the fleet wrote nothing to disk.
    assert redis.Redis.from_url(BROKER).exists("fleet:beat::schedule")
    assert sorted(p.relative_to(fleet.home) for p in fleet.home.rglob("*")) == [Path("tmp")]


@pytest.mark.slow
def test_ctrl_c_stops_the_workers_first_so_a_call_in_flight_still_succeeds(ledger_db, tmp_path):
    """Regression: the simulator used to stop with the workers, failing the call in
    flight and spending an attempt on it."""
    with running_fleet(tmp_path) as fleet:
        simulator = SimulatorClient(fleet.url("simulator"))
        simulator.inject("slack", path=r"^users\.list$", latency=3)
        run_id = _send(fleet, "slack.list_users", {})
        # The simulator takes the fault when the request arrives, then answers 3 s later.
        wait_for(lambda: simulator.faults() == [], 30, what="the call to reach the simulator")

        fleet.stop()

    row = ledger.get_run(run_id)
    assert row is not None
    assert (row["status"], row["attempts"]) == ("succeeded", 1), row["error"]
    assert row["result"]["count"] > 0
    assert fleet.code == 0, fleet.output()[-3000:]
    stops = [line.split("| SIGTERM to ")[1] for line in fleet.lines if "| SIGTERM to " in line]
    assert stops == [
        f"{', '.join(f'worker-{q}' for q in QUEUES)}; waiting up to 30s\n",
        "simulator, beat, flower, metrics, mcp; waiting up to 30s\n",
    ]
    assert fleet.leftovers() == []


@pytest.mark.parametrize("busy", [("flower",), ("simulator", "metrics")], ids=["one", "two"])
def test_a_busy_port_is_named_with_its_setting_and_nothing_starts(tmp_path, busy):
    ports = {name: free_port() for name in PORT_SETTINGS}
    with contextlib.ExitStack() as stack:
        for name in busy:  # another program listening there
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", ports[name]))
            sock.listen()

        fleet = start_fleet(tmp_path, ports=ports)
        code = fleet.proc.wait(timeout=60)

    expected = {
        "simulator": "the provider simulator",
        "flower": "Flower",
        "metrics": "the metrics exporter",
        "mcp": "the MCP server",
    }
    fleet.reader.join(10)
    assert code == 1
    assert fleet.lines == [
        f"Error: port {ports[name]} ({expected[name]}, on 127.0.0.1) is already in use: "
        f"set {PORT_SETTINGS[name]} to a free port\n"
        for name in busy
    ]
    assert fleet.leftovers() == []


def test_two_processes_set_to_one_port_are_named_together():
    port = free_port()
    flower = Listener("Flower", "127.0.0.1", port, "FLEET_FLOWER_PORT")
    metrics = Listener("the metrics exporter", "127.0.0.1", port, "FLEET_METRICS_PORT")

    problems = port_problems([flower, metrics])

    assert problems == [
        f"Flower and the metrics exporter are both set to port {port}: "
        "change FLEET_FLOWER_PORT or FLEET_METRICS_PORT"
    ]


def test_an_address_that_is_not_this_machines_names_both_settings():
    port = free_port()
    flower = Listener("Flower", "192.0.2.1", port, "FLEET_FLOWER_PORT", "FLEET_FLOWER_ADDRESS")

    problems = port_problems([flower])

    assert problems == [
        f"Flower cannot listen on 192.0.2.1:{port} (Cannot assign requested address): "
        "check FLEET_FLOWER_ADDRESS and FLEET_FLOWER_PORT"
    ]


# The README's examples (each under an <!-- example: NAME --> line) and what each prints.
README_EXAMPLES = {
    "python-client": r"^\d+ open issues; created issue \d+$",
    "broker-only": r"\d+ open issues\nintegrations\.github\.list_issues_succeeded ",
    "http": r"^\d+\nintegrations\.github\.list_issues_succeeded$",
    "mcp": r"^\d+ tools; \d+ open issues; integrations\.github\.list_issues_succeeded$",
}
EXAMPLE = re.compile(r"<!-- example: ([\w-]+) -->\n```(\w+)\n(.*?)```", re.S)


def readme_example(fleet: Fleet, name: str) -> tuple[str, str]:
    """The README's example ``name`` (language, code), pointed at this fleet's ports."""
    found = {m[1]: (m[2], m[3]) for m in EXAMPLE.finditer((REPO / "README.md").read_text())}
    lang, code = found[name]
    for default, here in (
        ("127.0.0.1:5555", f"127.0.0.1:{fleet.ports['flower']}"),
        ("127.0.0.1:8808", f"127.0.0.1:{fleet.ports['mcp']}"),
        ("redis://127.0.0.1:6379/0", BROKER),
    ):
        code = code.replace(default, here)
    return lang, code


def _send(fleet: Fleet, task: str, kwargs: dict[str, object]) -> str:
    """Publish ``task`` through Flower's HTTP API; its run id."""
    url = fleet.url("flower", f"/api/task/send-task/{task}")
    return httpx.post(url, json={"kwargs": kwargs}, timeout=10).json()["task-id"]


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False

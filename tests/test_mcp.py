"""`fleet mcp`: the catalog and the fleet's calls through MCP, driven by the SDK's own client
over stdio and Streamable HTTP, against a real worker process and a scripted HTTP server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from tests.support import REPO, Reply, fleet_cli, free_port, wait_for
from worker import ledger

TOKEN = "mcp-test-token-0123456789"
RUN_ID_META = "toolfleet/run_id"
Scenario = Callable[[ClientSession], Awaitable[None]]


def over_stdio(scenario: Scenario, env: dict[str, str] | None = None) -> None:
    """Run ``scenario`` against `fleet mcp` spawned by the SDK's stdio client."""

    async def main() -> None:
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "worker.cli", "mcp"],
            env={**os.environ, **(env or {})},
            cwd=REPO,
        )
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            await scenario(session)

    anyio.run(main)


def over_http(url: str, scenario: Scenario, token: str = TOKEN) -> None:
    async def main() -> None:
        import httpx2  # the SDK's HTTP client

        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60)) as http,
            streamable_http_client(url, http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            await scenario(session)

    anyio.run(main)


@pytest.fixture
def mcp_http(fleet_worker: Any, tmp_path: Path) -> Iterator[str]:
    """`fleet mcp --http` with a token, waiting 1 s per call; its /mcp URL."""
    port = free_port()
    env = {**os.environ, "FLEET_MCP_TOKEN": TOKEN, "FLEET_MCP_WAIT_SECONDS": "1"}
    log = tmp_path / "mcp.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "mcp", "--http", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )

    def listening() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"fleet mcp exited {proc.returncode}: {log.read_text()}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/mcp", timeout=1).status_code > 0
        except httpx.TransportError:
            return False

    try:
        wait_for(listening, 30, 0.2, what="fleet mcp --http to listen")
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_of(result: Any) -> dict[str, Any]:
    """The ledger row of the run an MCP answer names in its ``_meta``."""
    return ledger.get_run(result.meta[RUN_ID_META])


def test_stdio_lists_the_catalog_by_safe_names_and_calls_tools(fleet_worker, server):
    # Given a route that answers, one that is missing, and one that fails once with a
    # 503 asking for 2 s before it answers
    ok_url = server.route("/ok", Reply(200, {"hello": "mcp"}))
    gone_url = server.route("/gone", Reply(404, {"error": "gone"}))
    flaky_url = server.route(
        "/flaky", Reply(503, {"error": "busy"}, headers={"Retry-After": "2"}), Reply(200, {})
    )
    seen: dict[str, Any] = {"progress": []}

    async def scenario(session: ClientSession) -> None:
        seen["tools"] = {tool.name: tool for tool in (await session.list_tools()).tools}
        seen["ok"] = await session.call_tool("http__request", {"url": ok_url})
        seen["dotted"] = await session.call_tool("fleet.echo", {"message": "ping"})
        seen["bad"] = await session.call_tool("http__request", {"method": "GET"})
        seen["unknown"] = await session.call_tool("github__no_such_tool", {})
        seen["gone"] = await session.call_tool("http__request", {"url": gone_url})

        async def progress(value: float, total: float | None, message: str | None) -> None:
            seen["progress"].append((value, message))

        seen["flaky"] = await session.call_tool(
            "http__request", {"url": flaky_url}, progress_callback=progress
        )

    # When an MCP client lists the tools and calls them over stdio
    over_stdio(scenario)

    # Then the catalog is listed by safe names with its annotations, plus fleet__get_run
    tools = seen["tools"]
    assert "github__list_issues" in tools and "fleet__get_run" in tools
    assert not [name for name in tools if "." in name]
    issues = tools["github__list_issues"]
    assert issues.title == "github.list_issues"
    assert issues.input_schema["required"] == ["repo"]
    assert issues.annotations.read_only_hint is True
    assert tools["github__create_issue"].annotations.read_only_hint is False
    assert tools["fleet__get_run"].output_schema["properties"]["status"]
    # a call's result is the structured content, and the run is the fleet's like any other
    ok = seen["ok"]
    assert ok.is_error is False
    assert ok.structured_content["status"] == 200
    assert ok.structured_content["body"] == {"hello": "mcp"}
    row = run_of(ok)
    assert (row["tool"], row["status"], row["result"]) == (
        "http.request",
        "succeeded",
        ok.structured_content,
    )
    assert row["agent_task_id"].startswith("mcp:")  # no progress token: the request id
    assert seen["dotted"].structured_content["message"] == "ping"  # dotted names work too
    # invalid params and unknown tools are refused before publishing, as tool errors
    bad = seen["bad"]
    assert bad.is_error is True
    assert bad.structured_content["error"]["type"] == "BadParams"
    assert "url: Field required" in bad.content[0].text
    assert bad.meta is None  # nothing was published
    unknown = seen["unknown"]
    assert unknown.is_error is True
    assert "unknown tool 'github__no_such_tool'" in unknown.content[0].text
    # a classified failure names its type
    gone = seen["gone"]
    assert gone.is_error is True
    assert gone.structured_content["error"]["type"] == "NotFound"
    assert run_of(gone)["status"] == "dead"
    # the retried call told each change of state, the retry with its reason
    flaky = seen["flaky"]
    assert flaky.is_error is False
    assert flaky.structured_content["status"] == 200
    messages = [message for _, message in seen["progress"]]
    assert any(m.startswith("retrying after Unavailable") for m in messages), messages
    values = [value for value, _ in seen["progress"]]
    assert values == sorted(set(values))  # progress only grows
    assert run_of(flaky)["agent_task_id"] not in (None, "")
    assert not run_of(flaky)["agent_task_id"].startswith("mcp:")  # the progress token


def test_http_needs_the_token_and_a_long_call_answers_a_run_id(mcp_http, server):
    # Given `fleet mcp --http` with a token, waiting 1 s per call, and a 3 s route
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    accept = {"Accept": "application/json, text/event-stream"}
    slow_url = server.route("/slow", Reply(200, {"done": True}, delay=3))
    seen: dict[str, Any] = {"polls": []}

    async def scenario(session: ClientSession) -> None:
        seen["tools"] = [tool.name for tool in (await session.list_tools()).tools]
        seen["slow"] = slow = await session.call_tool("http__request", {"url": slow_url})
        run_id = slow.structured_content["run_id"]
        with anyio.fail_after(30):
            while True:
                polled = await session.call_tool("fleet__get_run", {"run_id": run_id})
                seen["polls"].append(polled)
                if polled.structured_content["final"]:
                    break
                await anyio.sleep(0.5)
        seen["missing"] = await session.call_tool("fleet__get_run", {"run_id": "no-such-run"})

    # When a client comes without a token, with a wrong one, then with the right one
    no_token = httpx.post(mcp_http, json=init, headers=accept, timeout=10)
    wrong = httpx.post(
        mcp_http, json=init, headers={**accept, "Authorization": "Bearer wrong"}, timeout=10
    )
    over_http(mcp_http, scenario)

    # Then only the right token is let in
    assert (no_token.status_code, wrong.status_code) == (401, 401)
    assert "fleet__get_run" in seen["tools"]
    # and the call that outlived the wait answered with its run, which went on
    slow = seen["slow"]
    assert slow.is_error is False
    assert set(slow.structured_content) == {"run_id", "status", "hint"}
    assert slow.structured_content["status"] in ("queued", "running")
    assert "fleet__get_run" in slow.structured_content["hint"]
    final = seen["polls"][-1].structured_content
    assert (final["status"], final["tool"], final["result"]["body"]) == (
        "succeeded",
        "http.request",
        {"done": True},
    )
    assert final["attempts"] == 1 and final["error"] is None
    assert len(seen["polls"]) > 1  # it was still going when first asked
    assert seen["missing"].is_error is True
    assert "no run 'no-such-run'" in seen["missing"].content[0].text


def test_a_call_with_the_broker_down_is_an_error_naming_it_with_the_password_masked():
    broker = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    answers: list[Any] = []

    async def scenario(session: ClientSession) -> None:
        answers.append(await session.call_tool("fleet__echo", {"message": "hi"}))

    over_stdio(scenario, env={"FLEET_BROKER_URL": broker})

    (answer,) = answers
    error = answer.structured_content["error"]
    assert answer.is_error and error["type"] == "BrokerUnavailable" and error["retryable"]
    assert error["message"].startswith(f"cannot reach the broker {broker.replace('hunter2', '**')}")
    assert "hunter2" not in str(answer)


def test_http_refuses_to_listen_beyond_loopback_without_a_token():
    out = fleet_cli("mcp", "--http", "--address", "0.0.0.0", check=False)

    assert out.returncode != 0
    assert "refusing to serve MCP on 0.0.0.0 without a bearer token" in out.stderr
    assert "FLEET_MCP_TOKEN" in out.stderr

"""`fleet mcp --http` as an attacker meets it: every route (``/mcp``, ``/events``, any
other path) refuses a foreign Host (DNS rebinding) or Origin (a page in the browser), with
and without a token; ``/events`` wants the token as ``/mcp`` does; and long waits cannot
take the threads that quick reads and new calls need. A real `fleet mcp` process over
real HTTP, with a real worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.support import REPO, Reply, free_port, wait_for
from worker.settings import Settings

TOKEN = "mcp-doors-token-0123456789"
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}
ACCEPT = {"Accept": "application/json, text/event-stream"}
OLD_THREAD_LIMIT = 40  # anyio's default limiter, which every blocking wait shared


@contextmanager
def fleet_mcp(tmp_path: Path, token: str | None, **env: str) -> Iterator[tuple[str, int]]:
    """`fleet mcp --http` on a free loopback port; its base URL and port."""
    port = free_port()
    environ = {**os.environ, "FLEET_MCP_TOKEN": token or "", **env}
    log = tmp_path / f"mcp-{port}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "mcp", "--http", "--port", str(port)],
        cwd=REPO,
        env=environ,
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
        yield f"http://127.0.0.1:{port}", port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("token", [None, TOKEN], ids=["no token", "token"])
def test_every_route_refuses_a_foreign_host_or_origin(ledger_db, redis_clean, tmp_path, token):
    # Given `fleet mcp --http` on loopback, with or without a token
    with fleet_mcp(tmp_path, token) as (base, port):
        auth = {"Authorization": f"Bearer {token}"} if token else {}

        def events(**headers: str) -> int:
            return httpx.get(f"{base}/events", headers={**auth, **headers}, timeout=10).status_code

        def mcp(**headers: str) -> int:
            answer = httpx.post(
                f"{base}/mcp", json=INIT, headers={**auth, **ACCEPT, **headers}, timeout=10
            )
            return answer.status_code

        def other(**headers: str) -> int:
            return httpx.get(f"{base}/other", headers={**auth, **headers}, timeout=10).status_code

        # When requests come with the server's own names, then as an attacker sends them:
        # a rebound name, another port of loopback, a foreign page, another local page
        typed = {"Sec-Fetch-Site": "none"}  # the address typed into the browser
        own = [events(), events(Host=f"localhost:{port}"), events(Origin=base), events(**typed)]
        own.append(mcp())
        rebound = {"Host": f"evil.example:{port}"}
        other_port = {"Host": f"127.0.0.1:{port + 1}"}
        foreign = {"Origin": "http://evil.example"}
        local_page = {"Origin": f"http://localhost:{port + 1}", "Sec-Fetch-Site": "cross-site"}
        no_cors = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}  # no Origin
        by_host = [(events(**h), mcp(**h), other(**h)) for h in (rebound, other_port)]
        pages = (foreign, local_page, no_cors)
        by_origin = [(events(**h), mcp(**h), other(**h)) for h in pages]

    # Then its own names are answered, and every route refuses the others with the
    # SDK's codes: 421 for a Host it does not serve, 403 for an Origin it does not allow
    # (and for a page's request that names no Origin)
    assert own == [200, 200, 200, 200, 200]
    assert by_host == [(421, 421, 421)] * 2
    assert by_origin == [(403, 403, 403)] * 3


def test_the_names_and_origins_an_operator_adds_are_answered(ledger_db, redis_clean, tmp_path):
    # Given `fleet mcp --http` told of one more name and one browser app's origin
    env = {
        "FLEET_MCP_ALLOWED_HOSTS": "mcp.internal:*",
        "FLEET_MCP_ALLOWED_ORIGINS": "http://localhost:6274",
    }
    with fleet_mcp(tmp_path, TOKEN, **env) as (base, port):
        auth = {"Authorization": f"Bearer {TOKEN}"}

        def events(**headers: str) -> int:
            return httpx.get(f"{base}/events", headers={**auth, **headers}, timeout=10).status_code

        # When requests come by that name, from that app, and from another one
        named = events(Host=f"mcp.internal:{port}")
        app = events(Origin="http://localhost:6274", **{"Sec-Fetch-Site": "cross-site"})
        other = events(Origin="http://localhost:6275")

    # Then the added ones are answered and the rest still refused
    assert (named, app, other) == (200, 200, 403)


def test_beyond_loopback_the_host_check_is_the_deployments():
    from worker.front.mcp_http import transport_security

    assert transport_security("127.0.0.1", 8808).allowed_hosts == [
        "127.0.0.1:8808", "localhost:8808", "[::1]:8808",
    ]  # fmt: skip
    assert transport_security("::1", 80).allowed_origins == [
        "http://127.0.0.1:80", "http://localhost:80", "http://[::1]:80",
        "http://127.0.0.1", "http://localhost", "http://[::1]",
    ]  # fmt: skip
    # all interfaces: whatever names the deployment gives it, listed, or the token alone
    assert transport_security("0.0.0.0", 8808).enable_dns_rebinding_protection is False
    listed = transport_security("0.0.0.0", 8808, ["toolfleet-mcp:8808"])
    assert listed.enable_dns_rebinding_protection is True
    assert listed.allowed_hosts == ["toolfleet-mcp:8808"]


def test_events_wants_the_token_as_mcp_does(ledger_db, redis_clean, tmp_path):
    # Given `fleet mcp --http` with a token
    with fleet_mcp(tmp_path, TOKEN) as (base, _):
        # When /events and /mcp are asked without the token, with a wrong one, with it
        answers = {
            path: [
                httpx.request(
                    "GET" if path == "/events" else "POST",
                    f"{base}{path}",
                    json=None if path == "/events" else INIT,
                    headers={**ACCEPT, **({"Authorization": given} if given else {})},
                    timeout=10,
                )
                for given in (None, "Bearer wrong-token-0123456789", f"Bearer {TOKEN}")
            ]
            for path in ("/events", "/mcp")
        }

    # Then both refuse alike, with the SDK's bearer answer, and let the token in
    for path, (missing, wrong, right) in answers.items():
        for refused in (missing, wrong):
            assert refused.status_code == 401, path
            assert refused.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
            assert refused.json()["error"] == "invalid_token"
        assert right.status_code == 200, path


def test_long_polls_beyond_the_old_thread_limit_starve_no_other_request(fleet_worker, tmp_path):
    # Given `fleet mcp --http` and more /events long polls than anyio's 40 threads,
    # each waiting for an event that has not come yet
    from worker.events import completion, publish

    polls = OLD_THREAD_LIMIT + 8
    held = Settings.model_fields["mcp_max_waits"].default  # the long polls it holds
    agent = f"agent-{uuid.uuid4()}"
    seen: dict[str, Any] = {"polls": []}

    with fleet_mcp(tmp_path, TOKEN) as (base, _):

        async def poll(http: httpx.AsyncClient) -> None:
            started = time.monotonic()
            answer = await http.get(
                f"{base}/events", params={"after": "$", "agent_task_id": agent, "wait": 20}
            )
            seen["polls"].append((answer, time.monotonic() - started))

        async def timed(name: str, call: Any) -> None:
            started = time.monotonic()
            with anyio.move_on_after(10):
                seen[name] = await call
            seen[f"{name}_seconds"] = time.monotonic() - started

        async def main() -> None:
            import httpx2

            limits = httpx.Limits(max_connections=polls + 10)
            headers = {"Authorization": f"Bearer {TOKEN}"}
            async with (
                httpx.AsyncClient(headers=headers, timeout=60, limits=limits) as http,
                anyio.create_task_group() as polling,
            ):
                for _ in range(polls):
                    polling.start_soon(poll, http)
                await anyio.sleep(1.5)  # every poll is in, waiting
                mcp_http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30))
                # When a client lists the tools, reads a run and calls a tool meanwhile
                async with (
                    mcp_http,
                    streamable_http_client(f"{base}/mcp", http_client=mcp_http) as (read, write),
                    ClientSession(read, write) as mcp,
                ):
                    await timed("init", mcp.initialize())
                    await timed("list", mcp.list_tools())
                    await timed("get_run", mcp.call_tool("fleet__get_run", {"run_id": "none"}))
                    await timed("echo", mcp.call_tool("fleet__echo", {"message": "still here"}))
                    await timed("events", mcp.call_tool("fleet__events", {"after": "$"}))
                seen["quick_done"] = True
                # then the event the held polls wait for comes, and they answer
                publish(completion({"id": "poll-end", "tool": "fleet.echo",
                                    "status": "succeeded", "agent_task_id": agent}))  # fmt: skip

        anyio.run(main)

    # Then every one of them answered within a couple of seconds
    assert seen.get("quick_done")
    for name in ("init", "list", "get_run", "echo", "events"):
        assert seen[f"{name}_seconds"] < 3, (name, seen[f"{name}_seconds"])
    assert seen["get_run"].structured_content["error"]["type"] == "NotFound"
    assert seen["echo"].structured_content["message"] == "still here"
    assert seen["events"].is_error is False
    # the polls the server holds got their event; those beyond its bound were told at
    # once to come back, never left queued behind the others
    answers = sorted(seen["polls"], key=lambda pair: pair[0].status_code)
    assert len(answers) == polls
    got = [answer.json()["events"] for answer, _ in answers if answer.status_code == 200]
    busy = [(answer, took) for answer, took in answers if answer.status_code != 200]
    assert len(got) == held and all(e[0]["run_id"] == "poll-end" for e in got)
    assert len(busy) == polls - held
    for answer, took in busy:
        assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
        assert took < 1.5 and "wait" in answer.json()["error"]


def test_calls_and_event_waits_beyond_their_bound_answer_at_once(fleet_worker, server, tmp_path):
    # Given `fleet mcp --http` holding at most 2 waits of each kind, and a 3 s route
    slow_url = server.route("/slow", Reply(200, {"slow": True}, delay=3))
    env = {"FLEET_MCP_MAX_WAITS": "2", "FLEET_MCP_WAIT_SECONDS": "20"}
    seen: dict[str, Any] = {}

    with fleet_mcp(tmp_path, None, **env) as (base, _):

        async def timed(name: str, call: Any) -> None:
            started = time.monotonic()
            seen[name] = await call
            seen[f"{name}_seconds"] = time.monotonic() - started

        async def main() -> None:
            import httpx2

            http = httpx2.AsyncClient(timeout=httpx2.Timeout(30, read=60))
            async with (
                http,
                streamable_http_client(f"{base}/mcp", http_client=http) as (read, write),
                ClientSession(read, write) as mcp,
            ):
                await mcp.initialize()
                agent = f"agent-{uuid.uuid4()}"
                waits = {"agent_task_id": agent, "after": "$", "wait": 6}
                # When two slow calls and two event waits are held, and one more of each comes
                async with anyio.create_task_group() as group:
                    for n in (1, 2):
                        group.start_soon(timed, f"slow{n}", mcp.call_tool(
                            "http__request", {"url": slow_url}))  # fmt: skip
                        group.start_soon(timed, f"wait{n}", mcp.call_tool("fleet__events", waits))
                    await anyio.sleep(1)
                    group.start_soon(timed, "third_call", mcp.call_tool(
                        "http__request", {"url": slow_url}))  # fmt: skip
                    group.start_soon(timed, "third_wait", mcp.call_tool("fleet__events", waits))

        anyio.run(main)

    # Then the held ones were waited on (the calls answer their result)
    for n in (1, 2):
        assert seen[f"slow{n}"].structured_content["body"] == {"slow": True}
        assert seen[f"wait{n}"].structured_content["events"] == []
        assert seen[f"wait{n}_seconds"] > 5
    # and the call beyond the bound was published and answered at once with its run
    third = seen["third_call"]
    assert seen["third_call_seconds"] < 1.5
    assert third.is_error is False
    assert set(third.structured_content) == {"run_id", "status", "hint"}
    assert third.meta["toolfleet/run_id"] == third.structured_content["run_id"]
    # and the event wait beyond it was told at once to ask again, as a retryable error
    busy = seen["third_wait"]
    assert seen["third_wait_seconds"] < 1.5
    assert busy.is_error is True
    assert busy.structured_content["error"]["type"] == "Busy"
    assert busy.structured_content["error"]["retryable"] is True

"""Secrets never reach the ledger, results, events, Flower or logs, whatever fails:
configured ones by value, an agent's own by the name they travel under; named
HTTP credentials let an agent authenticate without ever holding the token."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import psycopg
import pytest
from celery import Celery

from tasks.http.secrets import HttpCredential
from tasks.shared.safehttp import SafeHttp
from tests.conftest import (
    GITHUB_SECRET,
    JIRA_SECRET,
    PARTNER_SECRET,
    SLACK_SECRET,
    TEST_DB,
    WEBHOOK_SECRET,
)
from tests.support import REPO, Reply, fleet_cli, free_port, letters_of, wait_final, wait_for
from worker.client import FleetClient

pytestmark = pytest.mark.usefixtures("fleet_worker")
SECRETS = (GITHUB_SECRET, SLACK_SECRET, JIRA_SECRET, WEBHOOK_SECRET, PARTNER_SECRET)


def _echo_authorization(status: int):
    return lambda seen: Reply(status, {"you_sent": seen.headers.get("Authorization")})


def _ledger_text() -> str:
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={TEST_DB}") as conn:
        runs = conn.execute("SELECT string_agg(t::text, '\n') FROM tool_runs t").fetchone()[0]
        letters = conn.execute("SELECT string_agg(d::text, '\n') FROM dead_letters d").fetchone()[0]
    return f"{runs}\n{letters}"


def test_secrets_never_leak_into_ledger_results_or_logs(client, server, fleet_worker):
    # An agent that (wrongly) pastes a configured token into a header, against a
    # server that echoes it back: on success, on a fatal error and on retries.
    auth = {"Authorization": f"token {GITHUB_SECRET}"}
    ok_url = server.route("/echo-ok", _echo_authorization(200))
    bad_url = server.route("/echo-400", _echo_authorization(400))
    down_url = server.route("/echo-503", _echo_authorization(503))
    calls = [
        client.call("http.request", {"url": ok_url, "headers": auth}),
        client.call("http.request", {"url": bad_url, "headers": auth}),
        client.call("http.request", {"url": down_url, "headers": auth}),
        client.call("webhook.send", {"url": ok_url, "payload": {"k": WEBHOOK_SECRET}}),
        client.call("webhook.send", {"url": bad_url, "payload": {}, "signing_key": "missing"}),
        client.app.send_task("http.request", kwargs={"url": GITHUB_SECRET}),
        client.app.send_task("github.nonexistent", kwargs={"token": GITHUB_SECRET}),
    ]
    rows = [wait_final(call.id, timeout=40) for call in calls]

    ok = rows[0]
    assert ok["status"] == "succeeded"
    assert ok["result"]["body"] == {"you_sent": "token ***"}
    assert client.result(calls[0].id).get(timeout=5)["body"] == {"you_sent": "token ***"}
    assert {row["status"] for row in rows[1:]} == {"dead", "succeeded"}
    # The echo proves the real token did travel to the provider, as the agent asked.
    sent = [seen.headers.get("Authorization") for seen in server.requests_to("/echo-ok")]
    assert auth["Authorization"] in sent
    stored, log = _ledger_text(), fleet_worker.text()
    assert "***" in stored
    for secret in SECRETS:
        assert secret not in stored
        assert secret not in log


# ---- secrets an agent passes, and named credentials ---------------------------------

AGENT_TOKEN = "agent-own-token-7f3c9e21b04d"  # configured nowhere: only its name gives it away


@pytest.fixture
def flower(tmp_path):
    """Flower on the session's broker: what it shows comes from messages and task events."""
    port = free_port()
    log = (tmp_path / "flower.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "flower", f"--port={port}"],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def following_events() -> bool:
        # Events sent before Flower subscribes are gone: probe until one arrives.
        probe = FleetClient().call("fleet.echo", {"message": "probe"})
        try:
            return bool(wait_for(lambda: _flower_task(base, probe.id, 0), 3, 0.3))
        except (AssertionError, httpx.TransportError):
            return False

    wait_for(following_events, 60, 0, what="Flower to follow task events")
    yield base
    proc.terminate()
    proc.wait(10)
    log.close()


def _flower_task(base: str, run_id: str, timeout: float = 30) -> dict | None:
    """What Flower shows of a run once it finished (None at once with ``timeout=0``)."""

    def seen() -> dict | None:
        reply = httpx.get(f"{base}/api/task/info/{run_id}", timeout=5)
        info = reply.json() if reply.status_code == 200 else None
        return info if info and info.get("state") in ("SUCCESS", "FAILURE") else None

    return (
        wait_for(seen, timeout, 0.3, what=f"Flower to see {run_id} finish") if timeout else seen()
    )


def test_an_agents_own_token_is_masked_everywhere_it_is_stored_or_shown(
    client, server, fleet_worker, flower
):
    echo = server.route("/whoami", lambda seen: Reply(200, {"auth": seen.headers["Authorization"]}))
    refused = server.route("/refused", Reply(403, {"error": "no"}))
    params = {
        "url": f"{echo}?access_token={AGENT_TOKEN}",
        "headers": {"Authorization": f"Bearer {AGENT_TOKEN}", "X-Trace": "t-1"},
    }
    ours = client.call("http.request", params)
    # A client that is not the fleet's (Celery's own reprs, written unmasked).
    foreign = Celery(broker=client.app.conf.broker_url).send_task(
        "http.request",
        kwargs={"url": refused, "headers": {"Cookie": f"session={AGENT_TOKEN}"}},
        queue="http",
    )
    rows = [wait_final(ours.id), wait_final(foreign.id)]

    assert server.requests_to("/whoami")[0].headers["Authorization"] == f"Bearer {AGENT_TOKEN}"
    assert [row["status"] for row in rows] == ["succeeded", "dead"]
    assert rows[0]["params"]["headers"] == {"Authorization": "***", "X-Trace": "t-1"}
    assert rows[0]["result"]["body"] == {"auth": "***"}
    assert client.result(ours.id).get(timeout=5)["body"] == {"auth": "***"}
    shown = [json.dumps(_flower_task(flower, run.id)) for run in (ours, foreign)]
    assert "***" in shown[0] and "X-Trace" in shown[0]
    listed = fleet_cli("runs", "--json", "--limit", "50").stdout
    letters = fleet_cli("dlq", "list", "--json").stdout
    for text in (_ledger_text(), fleet_worker.text(), listed, letters, *shown):
        assert AGENT_TOKEN not in text
    letter = letters_of(foreign.id)[0]
    replayed = fleet_cli("dlq", "replay", str(letter["id"]), check=False)
    assert replayed.returncode != 0
    assert "headers.Cookie" in replayed.stderr and "named credential" in replayed.stderr


def test_a_named_credential_authenticates_calls_and_replays_without_the_agent_seeing_it(
    client, server, fleet_worker
):
    echo = lambda seen: Reply(200, {"key": seen.headers.get("X-Api-Key")})  # noqa: E731
    url = server.route("/partner", Reply(401, {"error": "expired"}), echo)
    hook = server.route("/partner-hook", echo)

    first = client.call("http.request", {"url": url, "credential": "partner"})
    dead = wait_final(first.id)
    sent = client.call("webhook.send", {"url": hook, "payload": {"a": 1}, "credential": "partner"})

    assert dead["status"] == "dead" and dead["params"]["credential"] == "partner"
    assert wait_final(sent.id)["result"]["body"] == {"key": "***"}
    replay = fleet_cli("dlq", "replay", str(letters_of(first.id)[0]["id"])).stdout
    new_id = replay.split()[-1]
    assert wait_final(new_id)["result"] == {**wait_final(new_id)["result"], "status": 200}
    seen_keys = [s.headers.get("X-Api-Key") for s in server.requests_to("/partner")]
    assert seen_keys == [PARTNER_SECRET, PARTNER_SECRET]
    assert server.requests_to("/partner-hook")[0].headers["X-Api-Key"] == PARTNER_SECRET
    for text in (_ledger_text(), fleet_worker.text(), fleet_cli("runs", "--json").stdout):
        assert PARTNER_SECRET not in text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"credential": "nobody"}, "unknown credential 'nobody'"),
        ({"credential": "partner", "headers": {"x-api-key": "mine"}}, "do not pass it in headers"),
    ],
)
def test_a_credential_that_cannot_be_used_is_bad_params_without_a_request(
    client, server, params, message
):
    url = server.route("/never", Reply(200))

    row = wait_final(client.call("http.request", {"url": url, **params}).id)

    assert row["error"]["type"] == "BadParams" and message in row["error"]["message"]
    assert server.requests_to("/never") == []


def test_a_credential_is_refused_for_a_host_it_is_not_for(client):
    row = wait_final(
        client.call("http.request", {"url": "https://example.org/", "credential": "partner"}).id
    )
    assert row["error"]["type"] == "BadParams"
    assert "not for 'example.org' (only: localhost)" in row["error"]["message"]


@pytest.mark.parametrize("hosts", [[], ["localhost"]])
def test_a_credential_and_sensitive_headers_never_follow_a_redirect_to_another_host(server, hosts):
    credential = HttpCredential(
        header="X-Api-Key", value=PARTNER_SECRET, hosts=hosts, plain_http_hosts=["localhost"]
    )
    server.route("/landing", Reply(200))
    url = server.route(
        "/moved", Reply(302, headers={"Location": server.url("/landing", "127.0.0.1")})
    )

    fetched = SafeHttp(allowed_hosts=["localhost", "127.0.0.1"]).request(
        "GET", url, headers={"Cookie": "s=1", "X-Trace": "t"}, credential=credential
    )

    assert fetched.status == 200
    first, second = server.requests_to("/moved")[0], server.requests_to("/landing")[0]
    assert first.headers["X-Api-Key"] == PARTNER_SECRET and first.headers["Cookie"] == "s=1"
    assert "X-Api-Key" not in second.headers and "Cookie" not in second.headers
    assert second.headers["X-Trace"] == "t"


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"url": f"https://x.example/in/{GITHUB_SECRET}/x"}, ["url"]),  # inside a path
        ({"text": f"token{SLACK_SECRET}tail"}, ["text"]),  # inside a word
        ({"headers": {"Authorization": "Bearer abc123456789"}}, ["headers.Authorization"]),
        ({"items": [{"q": f"?access_token={PARTNER_SECRET}"}]}, ["items[0].q"]),
    ],
)
def test_a_masked_value_is_found_wherever_the_mask_landed(params, where):
    from worker.redact import masked_fields, redact_json

    # A run recorded with these params could not be sent again as it was called.
    assert masked_fields(redact_json(params)) == where


def test_params_without_a_mask_can_be_sent_again():
    from worker.redact import masked_fields, redact_json

    assert masked_fields(redact_json({"url": "https://x.example/in/plain/x", "n": 3})) == []

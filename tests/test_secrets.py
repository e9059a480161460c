"""Configured secrets never reach the ledger, results or the worker's log, whatever fails."""

from __future__ import annotations

import psycopg
import pytest

from tests.conftest import GITHUB_SECRET, JIRA_SECRET, SLACK_SECRET, TEST_DB, WEBHOOK_SECRET
from tests.support import Reply, wait_final

pytestmark = pytest.mark.usefixtures("fleet_worker")
SECRETS = (GITHUB_SECRET, SLACK_SECRET, JIRA_SECRET, WEBHOOK_SECRET)


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
        client.call("webhook.send", {"url": bad_url, "payload": {}, "secret": "missing"}),
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
    assert server.requests_to("/echo-ok")[0].headers["Authorization"] == auth["Authorization"]
    stored, log = _ledger_text(), fleet_worker.text()
    assert "***" in stored
    for secret in SECRETS:
        assert secret not in stored
        assert secret not in log

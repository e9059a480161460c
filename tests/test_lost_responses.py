"""A write whose response is lost is not repeated: the retry finds it first.

The simulator performs the write and then drops the connection (the fault
DESIGN.md calls "a POST that succeeds but whose response is lost").
"""

from __future__ import annotations

import pytest

from tests.support import call_tool, wait_final

pytestmark = pytest.mark.usefixtures("fleet_worker")


def test_github_issue_created_once_when_its_response_is_lost(client, sim):
    sim.inject("github", method="POST", path=r"^/repos/octo/hello/issues$", drop_response=True)

    run = client.call("github.create_issue", {"repo": "octo/hello", "title": "Lost answer"})
    created = run.get(timeout=30)

    listed = call_tool(client, "github.list_issues", {"repo": "octo/hello", "state": "all"})
    assert [i["title"] for i in listed["items"]].count("Lost answer") == 1
    assert created["reconciled"] is True
    assert created["title"] == "Lost answer"
    assert len(sim.requests(provider="github", method="POST")) == 1
    assert wait_final(run.id)["attempts"] == 2


def test_slack_message_posted_once_when_its_response_is_lost(client, sim):
    sim.inject("slack", path="chat.postMessage", drop_response=True)

    run = client.call("slack.post_message", {"channel": "C0002", "text": "posted once"})
    posted = run.get(timeout=30)

    history = call_tool(client, "slack.get_channel_history", {"channel": "C0002"})
    assert [m["text"] for m in history["items"]].count("posted once") == 1
    assert posted["reconciled"] is True
    assert posted["ts"] == next(m["ts"] for m in history["items"] if m["text"] == "posted once")
    assert len(sim.requests(provider="slack", path="chat.postMessage")) == 1


def test_slack_thread_reply_posted_once_when_its_response_is_lost(client, sim):
    parent = call_tool(client, "slack.post_message", {"channel": "C0004", "text": "incident"})
    sim.inject("slack", path="chat.postMessage", drop_response=True)

    reply = client.call(
        "slack.post_message", {"channel": "C0004", "text": "on it", "thread_ts": parent["ts"]}
    ).get(timeout=30)

    assert reply["reconciled"] is True
    assert reply["thread_ts"] == parent["ts"]
    assert len(sim.requests(provider="slack", path="chat.postMessage")) == 2  # parent + reply


def test_jira_issue_created_once_when_its_response_is_lost(client, sim):
    sim.inject("jira", method="POST", path=r"/rest/api/2/issue$", drop_response=True)

    created = client.call(
        "jira.create_issue", {"project": "OPS", "summary": "Disk full on db-1"}
    ).get(timeout=30)

    found = call_tool(client, "jira.search_issues", {"project": "OPS", "limit": 100})
    same = [i["key"] for i in found["items"] if i["summary"] == "Disk full on db-1"]
    assert same == [created["key"]]
    assert created["reconciled"] is True
    assert len(sim.requests(provider="jira", method="POST", path=r"/rest/api/2/issue$")) == 1


def test_a_plain_retry_still_writes_when_nothing_was_written(client, sim):
    # A 503 means the provider did not act: the retry looks, finds nothing, writes.
    sim.inject("github", method="POST", path=r"^/repos/octo/hello/issues$", status=503)

    created = call_tool(client, "github.create_issue", {"repo": "octo/hello", "title": "Once"})

    assert "reconciled" not in created
    assert [r["status"] for r in sim.requests(provider="github", method="POST")] == [503, 201]

"""Retried writes are never lost and never doubled: markers, ambiguous vs definitive
outcomes, and bot identities that may not read what a reconcile would like to."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support import wait_final

pytestmark = pytest.mark.usefixtures("fleet_worker")

# tool, params, provider, the write's path (a regex), the lookup a reconcile makes
WRITES = [
    ("github.create_issue", {"repo": "octo/hello", "title": "Lost answer"}, "github",
     r"^/repos/octo/hello/issues$", r"^/repos/octo/hello/issues$"),
    ("github.comment_on_issue", {"repo": "octo/hello", "number": 1, "body": "Seen it"},
     "github", r"/issues/1/comments$", r"/issues/1/comments$"),
    ("github.create_pr_review", {"repo": "octo/hello", "number": 8, "event": "APPROVE"},
     "github", r"/pulls/8/reviews$", r"/pulls/8/reviews$"),
    ("jira.create_issue", {"project": "OPS", "summary": "Disk full on db-2"}, "jira",
     r"/rest/api/2/issue$", r"/rest/api/2/search"),
    ("jira.add_comment", {"issue": "DEMO-2", "body": "Seen on staging"}, "jira",
     r"/issue/DEMO-2/comment$", r"/issue/DEMO-2/comment$"),
    ("slack.post_message", {"channel": "C0002", "text": "posted once"}, "slack",
     "chat.postMessage", "conversations.history"),
]  # fmt: skip


def writes(sim: Any, provider: str, path: str) -> list[dict[str, Any]]:
    return [r for r in sim.requests(provider=provider, path=path) if r["method"] == "POST"]


def lookups(sim: Any, provider: str, lookup: str, write: str) -> list[dict[str, Any]]:
    """Requests a reconcile would make (Slack's Web API reads are POSTs too)."""
    return [
        r
        for r in sim.requests(provider=provider, path=lookup)
        if not (r["method"] == "POST" and re.search(write, r["path"]))
    ]


@pytest.mark.parametrize(("tool", "params", "provider", "path", "lookup"), WRITES)
def test_a_write_whose_response_was_lost_ends_as_exactly_one_object(
    client, sim, tool, params, provider, path, lookup
):
    with sim.engine.lock:  # GitHub writes: as an App installation, which may not read /user
        sim.engine.state.github.app_installation = True
    sim.inject(provider, method="POST", path=path, drop_response=True)

    run = client.call(tool, params)
    result = run.get(timeout=30)

    row = wait_final(run.id)
    assert result["reconciled"] is True
    assert (row["status"], row["attempts"]) == ("succeeded", 2)
    assert len(writes(sim, provider, path)) == 1  # the lost one did it; no second write
    assert lookups(sim, provider, lookup, path)  # found by its marker
    assert not sim.requests(provider="github", path=r"^/user$")


@pytest.mark.parametrize(("tool", "params", "provider", "path", "lookup"), WRITES)
def test_a_write_refused_with_429_runs_again_without_any_lookup(
    client, sim, tool, params, provider, path, lookup
):
    sim.inject(provider, method="POST", path=path, status=429, retry_after=1)

    run = client.call(tool, params)
    result = run.get(timeout=30)

    assert "reconciled" not in result
    assert "reconcile" not in result
    first, second = (r["status"] for r in writes(sim, provider, path))
    assert (first, second // 100) == (429, 2)
    assert lookups(sim, provider, lookup, path) == []  # a 429 proves nothing was written
    assert wait_final(run.id)["attempts"] == 2


def test_a_bot_without_history_scope_still_delivers_its_message(client, sim):
    with sim.engine.lock:
        sim.engine.state.slack.missing_scopes = {"channels:history"}
    sim.inject("slack", path="chat.postMessage", status=503)  # ambiguous: reconcile first

    run = client.call("slack.post_message", {"channel": "C0002", "text": "still delivered"})
    posted = run.get(timeout=30)

    row = wait_final(run.id)
    assert row["status"] == "succeeded"
    assert posted["reconcile"].startswith("skipped: ")
    assert "missing_scope" in posted["reconcile"]
    history = sim.requests(provider="slack", path="conversations.history")
    assert [h["status"] for h in history] == [200]  # answered missing_scope (HTTP 200)
    assert [w["status"] for w in writes(sim, "slack", "chat.postMessage")] == [503, 200]


def test_a_github_app_token_can_use_every_github_write(client, sim):
    with sim.engine.lock:
        sim.engine.state.github.app_installation = True

    for tool, params, *_ in WRITES[:3]:
        assert client.call(tool, params).get(timeout=30)

    assert not sim.requests(provider="github", path=r"^/user$")

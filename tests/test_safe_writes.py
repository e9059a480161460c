"""Retried writes are never lost and never doubled: markers, ambiguous vs definitive
outcomes, and bot identities that may not read what a reconcile would like to."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.support import call_dead, letters_of, wait_final
from worker.errors import BadParams

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
GITHUB_WRITES = [w for w in WRITES if w[2] == "github"]


def writes(sim: Any, provider: str, path: str) -> list[dict[str, Any]]:
    return [r for r in sim.requests(provider=provider, path=path) if r["method"] == "POST"]


def lookups(sim: Any, provider: str, lookup: str, write: str) -> list[dict[str, Any]]:
    """Requests a reconcile would make (Slack's Web API reads are POSTs too)."""
    return [
        r
        for r in sim.requests(provider=provider, path=lookup)
        if not (r["method"] == "POST" and re.search(write, r["path"]))
    ]


def posts(sim: Any) -> list[dict[str, Any]]:
    return sim.requests(provider="slack", path="chat.postMessage")


def history_reads(sim: Any) -> list[dict[str, Any]]:
    return sim.requests(provider="slack", path=r"conversations\.(history|replies)")


# ---- ambiguous: the write happened, its response was lost -----------------------------


@pytest.mark.parametrize(("tool", "params", "provider", "path", "lookup"), WRITES)
def test_a_write_whose_response_was_lost_ends_as_exactly_one_object(
    client, sim, tool, params, provider, path, lookup
):
    sim.configure(github_app_installation=True)  # GitHub writes as an App: no GET /user
    sim.inject(provider, method="POST", path=path, drop_response=True)

    run = client.call(tool, params)
    result = run.get(timeout=30)

    row = wait_final(run.id)
    assert result["reconciled"] is True
    assert (row["status"], row["attempts"]) == ("succeeded", 2)
    assert len(writes(sim, provider, path)) == 1  # the lost one did it; no second write
    assert lookups(sim, provider, lookup, path)  # found by its marker
    assert not sim.requests(provider="github", path=r"^/user$")
    assert "toolfleet" not in json.dumps(result)  # the marker stays out of results


def test_a_blocks_only_slack_post_is_found_by_its_metadata(client, sim):
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*deployed*"}}]
    sim.inject("slack", path="chat.postMessage", drop_response=True)

    run = client.call("slack.post_message", {"channel": "C0003", "blocks": blocks})
    posted = run.get(timeout=30)

    assert posted["reconciled"] is True
    assert len(posts(sim)) == 1
    [lookup] = history_reads(sim)
    assert lookup["body"]["include_all_metadata"] in ("1", "true", True)
    assert int(lookup["body"]["limit"]) <= 15  # Tier 1's maximum


def test_slack_reconcile_fits_tier1_history_limits(client, sim):
    # Given the simulator enforcing Tier 1 (1 history call a minute, at most 15 messages)
    sim.configure(slack_tier1_history=True)
    sim.inject("slack", path="chat.postMessage", drop_response=True)

    run = client.call("slack.post_message", {"channel": "C0002", "text": "tier 1"})
    posted = run.get(timeout=30)

    assert posted["reconciled"] is True
    assert [r["status"] for r in history_reads(sim)] == [200]  # one read, within the limit
    assert len(posts(sim)) == 1


def test_a_provider_down_during_the_lookup_delays_the_write_instead_of_doubling_it(client, sim):
    # Given a post whose response is lost, then a lookup answered 503
    sim.inject("slack", path="chat.postMessage", drop_response=True)
    sim.inject("slack", path="conversations.history", status=503)

    run = client.call("slack.post_message", {"channel": "C0002", "text": "not twice"})
    posted = run.get(timeout=30)

    assert posted["reconciled"] is True
    assert len(posts(sim)) == 1  # no blind write after the failed lookup
    assert [r["status"] for r in history_reads(sim)] == [503, 200]
    assert wait_final(run.id)["attempts"] == 3


def test_a_lookup_refused_for_its_rate_looks_again_before_any_write(client, sim):
    # Given a post whose response is lost, then a lookup answered 429 (Slack's Tier 1
    # history limit): a definitive refusal of the lookup, which checked nothing.
    sim.inject("slack", path="chat.postMessage", drop_response=True)
    sim.inject("slack", path="conversations.history", status=429, retry_after=1)

    run = client.call("slack.post_message", {"channel": "C0002", "text": "looked for twice"})
    posted = run.get(timeout=30)

    # The earlier write may still have happened: the third attempt looks again.
    assert posted["reconciled"] is True
    assert len(posts(sim)) == 1
    assert [r["status"] for r in history_reads(sim)] == [429, 200]
    assert wait_final(run.id)["attempts"] == 3


# ---- definitive: nothing was written --------------------------------------------------


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


# ---- lookups the identity may not make ------------------------------------------------


def test_a_bot_without_history_scope_still_delivers_its_message(client, sim):
    sim.configure(slack_missing_scopes=["channels:history"])
    sim.inject("slack", path="chat.postMessage", status=503)  # ambiguous: reconcile first

    run = client.call("slack.post_message", {"channel": "C0002", "text": "still delivered"})
    posted = run.get(timeout=30)

    row = wait_final(run.id)
    assert row["status"] == "succeeded"
    assert posted["reconcile"].startswith("skipped: ")
    assert "missing_scope" in posted["reconcile"]
    history = sim.requests(provider="slack", path="conversations.history")
    assert [h["status"] for h in history] == [200]  # answered missing_scope (HTTP 200)
    assert [w["status"] for w in posts(sim)] == [503, 200]


def test_a_bot_without_history_scope_posts_again_after_a_lost_response_rather_than_never(
    client, sim
):
    # The lookup is refused, so the fleet cannot know: it delivers (maybe twice), never buries.
    sim.configure(slack_missing_scopes=["channels:history"])
    sim.inject("slack", path="chat.postMessage", drop_response=True)

    run = client.call("slack.post_message", {"channel": "C0002", "text": "at least once"})
    posted = run.get(timeout=30)

    row = wait_final(run.id)
    assert (row["status"], row["attempts"]) == ("succeeded", 2)
    assert posted["reconcile"].startswith("skipped: ")
    assert "channels:history" in posted["reconcile"]
    assert len(posts(sim)) == 2  # the documented cost of a refused lookup
    assert letters_of(run.id) == []


def test_a_post_to_a_channel_given_by_name_records_that_it_could_not_be_looked_up(client, sim):
    sim.inject("slack", path="chat.postMessage", drop_response=True)

    run = client.call("slack.post_message", {"channel": "#random", "text": "by name"})
    posted = run.get(timeout=30)

    assert posted["reconcile"].startswith("skipped: ")
    assert "by name" in posted["reconcile"]
    assert history_reads(sim) == []
    assert posted["channel"] == "C0002"  # Slack answers with the ID


def test_a_github_app_token_can_use_every_github_write(client, sim):
    sim.configure(github_app_installation=True)

    for tool, params, *_ in GITHUB_WRITES:
        assert client.call(tool, params).get(timeout=30)

    assert not sim.requests(provider="github", path=r"^/user$")


# ---- what the markers change ----------------------------------------------------------


def test_a_comment_review_with_nothing_but_the_marker_is_refused(client, sim):
    # GitHub would accept the hidden marker alone as an empty-looking review.
    call_dead(
        client,
        "github.create_pr_review",
        {"repo": "octo/hello", "number": 8, "event": "COMMENT"},
        BadParams,
    )

    assert writes(sim, "github", r"/reviews$") == []


def test_markers_go_where_the_provider_keeps_them(client, sim):
    run = client.call("jira.add_comment", {"issue": "DEMO-2", "body": "marked"})
    run.get(timeout=30)
    post = client.call("slack.post_message", {"channel": "C0002", "text": "marked"})
    post.get(timeout=30)

    [comment] = writes(sim, "jira", r"/issue/DEMO-2/comment$")
    assert comment["body"]["body"] == "marked"  # the visible text is left as given
    assert comment["body"]["properties"] == [{"key": "toolfleet", "value": {"run_id": run.id}}]
    [message] = posts(sim)
    assert message["body"]["text"] == "marked"
    metadata = message["body"]["metadata"]
    metadata = json.loads(metadata) if isinstance(metadata, str) else metadata
    assert metadata == {"event_type": "toolfleet_run", "event_payload": {"run_id": post.id}}

"""Slack tools through a real worker and slack_sdk, against the provider simulator."""

from __future__ import annotations

import json
from http.client import RemoteDisconnected
from urllib.error import URLError

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.slack_response import SlackResponse

from tests.conftest import SLACK_SECRET
from tests.support import call_dead, call_tool, letters_of, wait_final, wait_for
from worker.errors import (
    BadParams,
    Conflict,
    Fatal,
    NotFound,
    RateLimited,
    Unauthorized,
    Unavailable,
)

pytestmark = pytest.mark.usefixtures("fleet_worker")

SEED_USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "simbot"]
SEED_PUBLIC_CHANNELS = ["general", "random", "engineering", "alerts", "design", "releases"]
THREAD_PARENT = "1700003600.000100"  # "Deploy is failing" in #engineering, 2 replies


def _walk(client, tool: str, params: dict) -> tuple[list[dict], int]:
    """Every item of a list tool, following next_cursor until None; and the page count."""
    items, cursor, pages = [], None, 0
    while True:
        result = call_tool(client, tool, {**params, "cursor": cursor})
        assert result["count"] == len(result["items"]) <= params["limit"]
        items += result["items"]
        pages += 1
        cursor = result["next_cursor"]
        if cursor is None:
            return items, pages


# ---- every tool, happy path ---------------------------------------------------------


def test_posted_message_is_recorded_and_visible_in_the_channel_history(client, sim):
    run = client.call("slack.post_message", {"channel": "C0002", "text": "Build 42 is green"})
    posted = run.get(timeout=20)

    history = call_tool(client, "slack.get_channel_history", {"channel": "C0002"})

    assert (posted["channel"], posted["text"]) == ("C0002", "Build 42 is green")
    assert "thread_ts" not in posted
    assert history["items"] == [{"ts": posted["ts"], "user": "U0007", "text": "Build 42 is green"}]
    assert history["next_cursor"] is None
    row = wait_final(run.id)
    assert (row["status"], row["attempts"], row["queue"]) == ("succeeded", 1, "slack")
    assert row["result"] == posted
    [sent] = sim.requests(provider="slack", path="chat.postMessage")
    assert sent["body"] == {
        "channel": "C0002",
        "text": "Build 42 is green",
        # the run's marker: a retry after a lost response finds exactly this message
        "metadata": {"event_type": "toolfleet_run", "event_payload": {"run_id": run.id}},
    }


def test_post_blocks_by_channel_name_into_a_thread(client, sim):
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Fixed* for real"}}]

    posted = call_tool(
        client,
        "slack.post_message",
        {"channel": "#engineering", "text": "Fixed", "blocks": blocks, "thread_ts": THREAD_PARENT},
    )
    history = call_tool(client, "slack.get_channel_history", {"channel": "C0003"})

    assert (posted["channel"], posted["thread_ts"]) == ("C0003", THREAD_PARENT)
    # Replies stay out of the history; the parent counts them.
    [parent] = history["items"]
    assert parent["ts"] == parent["thread_ts"] == THREAD_PARENT
    assert parent["reply_count"] == 3
    [sent] = sim.requests(provider="slack", path="chat.postMessage")
    assert sent["body"]["blocks"] == blocks


def test_list_channels_leaves_archived_and_private_out_by_default(client, sim):
    result = call_tool(client, "slack.list_channels", {})

    assert [c["name"] for c in result["items"]] == SEED_PUBLIC_CHANNELS
    assert result["items"][0] == {
        "id": "C0001",
        "name": "general",
        "is_private": False,
        "is_archived": False,
        "num_members": 4,
        "topic": "All about general",
        "purpose": "Channel for general",
    }
    assert result["next_cursor"] is None


def test_list_channels_with_archived_and_private_ones(client, sim):
    result = call_tool(
        client,
        "slack.list_channels",
        {"types": "public_channel,private_channel", "exclude_archived": False},
    )

    by_name = {c["name"]: c for c in result["items"]}
    assert by_name["old-project"]["is_archived"] is True
    assert by_name["secret-ops"]["is_private"] is True
    assert "hr-private" not in by_name  # private, and the bot is not a member


def test_created_channel_is_then_listed(client, sim):
    created = call_tool(client, "slack.create_channel", {"name": "incident-7"})

    listed = call_tool(client, "slack.list_channels", {"limit": 100})

    assert created["name"] == "incident-7"
    assert (created["is_private"], created["is_archived"]) == (False, False)
    assert created["id"] in [c["id"] for c in listed["items"]]


def test_created_private_channel_is_listed_only_with_private_types(client, sim):
    created = call_tool(client, "slack.create_channel", {"name": "war_room", "is_private": True})

    public = call_tool(client, "slack.list_channels", {})
    private = call_tool(client, "slack.list_channels", {"types": "private_channel"})

    assert created["is_private"] is True
    assert created["id"] not in [c["id"] for c in public["items"]]
    assert created["id"] in [c["id"] for c in private["items"]]


def test_get_user_info(client, sim):
    user = call_tool(client, "slack.get_user_info", {"user": "U0001"})

    assert user == {
        "id": "U0001",
        "name": "alice",
        "real_name": "Alice Liddell",
        "is_bot": False,
        "deleted": False,
        "tz": "Europe/Paris",
        "is_admin": True,
    }


def test_list_users_walks_every_user_exactly_once_across_pages(client, sim):
    users, pages = _walk(client, "slack.list_users", {"limit": 3})

    assert pages == 3
    assert [u["name"] for u in users] == SEED_USERS
    assert len({u["id"] for u in users}) == 7
    flags = {u["name"]: (u["is_bot"], u["deleted"]) for u in users}
    assert (flags["simbot"], flags["frank"]) == ((True, False), (False, True))
    assert len(sim.requests(provider="slack", path="users.list")) == pages  # one call per page


def test_channel_history_pages_newest_first_and_filters_by_oldest(client, sim):
    messages, pages = _walk(client, "slack.get_channel_history", {"channel": "C0001", "limit": 3})
    recent = call_tool(
        client, "slack.get_channel_history", {"channel": "C0001", "oldest": messages[2]["ts"]}
    )

    assert pages == 3
    assert [m["text"] for m in messages] == [f"Hello #{i}" for i in range(7, 0, -1)]
    assert len({m["ts"] for m in messages}) == 7
    assert [m["text"] for m in recent["items"]] == ["Hello #7", "Hello #6"]


# ---- errors -----------------------------------------------------------------------------


def test_unauthorized_is_a_dead_letter_after_exactly_one_attempt(client, sim):
    sim.inject("slack", path="chat.postMessage", unauthorized=True, times=None)

    row = call_dead(client, "slack.post_message", {"channel": "C0001", "text": "hi"}, Unauthorized)

    assert row["attempts"] == 1
    assert (row["error"]["code"], row["error"]["provider_status"]) == ("invalid_auth", 200)
    assert len(row["error"]["request_id"]) == 32  # X-Slack-Req-Id, for Slack's support
    assert len(sim.requests(provider="slack", path="chat.postMessage")) == 1
    [letter] = letters_of(row["id"])
    assert letter["error"]["type"] == "Unauthorized"
    assert SLACK_SECRET not in json.dumps(letter, default=str)


@pytest.mark.parametrize(
    ("tool", "params", "code"),
    [
        ("slack.post_message", {"channel": "C0999", "text": "hi"}, "channel_not_found"),
        ("slack.get_channel_history", {"channel": "C0008"}, "channel_not_found"),  # private
        ("slack.get_user_info", {"user": "U0999"}, "user_not_found"),
    ],
)
def test_missing_things_are_not_found_after_one_attempt(client, sim, tool, params, code):
    row = call_dead(client, tool, params, NotFound)

    assert (row["attempts"], row["error"]["code"]) == (1, code)
    assert len(sim.requests(provider="slack")) == 1


def test_invalid_blocks_from_slack_is_bad_params_with_slacks_explanation(client, sim):
    sim.inject(
        "slack",
        path="chat.postMessage",
        status=200,
        body={
            "ok": False,
            "error": "invalid_blocks",
            "response_metadata": {"messages": ["[ERROR] missing required field: text"]},
        },
    )

    row = call_dead(
        client,
        "slack.post_message",
        {"channel": "C0001", "blocks": [{"type": "section"}]},
        BadParams,
    )

    assert (row["attempts"], row["error"]["code"]) == (1, "invalid_blocks")
    assert "missing required field: text" in row["error"]["message"]


def test_a_cursor_slack_does_not_know_is_bad_params(client, sim):
    row = call_dead(client, "slack.list_users", {"cursor": "bm9wZTpub3BlCg=="}, BadParams)

    assert (row["attempts"], row["error"]["code"]) == (1, "invalid_cursor")


def test_a_taken_channel_name_is_a_conflict(client, sim):
    row = call_dead(client, "slack.create_channel", {"name": "general"}, Conflict)

    assert (row["attempts"], row["error"]["code"]) == (1, "name_taken")


def test_429_retry_after_is_honoured_and_the_worker_stays_free(client, sim):
    sim.inject("slack", path="chat.postMessage", status=429, retry_after=2, times=1)

    slow = client.call("slack.post_message", {"channel": "C0001", "text": "later"})
    wait_for(lambda: sim.requests(provider="slack", path="chat.postMessage"), what="the 429")
    quick = call_tool(client, "slack.get_user_info", {"user": "U0002"})
    posted = slow.get(timeout=30)

    first, second = sim.requests(provider="slack", path="chat.postMessage")
    [read] = sim.requests(provider="slack", path="users.info")
    assert first["status"] == 429
    assert second["timestamp"] - first["timestamp"] >= 2.0
    assert first["timestamp"] < read["timestamp"] < second["timestamp"]
    assert quick["name"] == "bob"
    assert posted["text"] == "later"
    row = wait_final(slow.id)
    assert (row["status"], row["attempts"]) == ("succeeded", 2)


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 500},
        {"status": 503, "body": b"<html>upstream connect error</html>"},
        {"drop_response": True},
    ],
    ids=["500", "503-html", "dropped"],
)
def test_a_transient_failure_then_success_takes_two_attempts(client, sim, fault):
    sim.inject("slack", path="users.list", times=1, **fault)

    run = client.call("slack.list_users", {"limit": 2})

    assert [u["name"] for u in run.get(timeout=20)["items"]] == ["alice", "bob"]
    row = wait_final(run.id)
    assert (row["status"], row["attempts"]) == ("succeeded", 2)
    assert len(sim.requests(provider="slack", path="users.list")) == 2


@pytest.mark.parametrize(
    ("tool", "params", "complaint"),
    [
        ("slack.post_message", {"text": "hi"}, "channel: Field required"),
        ("slack.post_message", {"channel": "C0001"}, "give text or blocks"),
        ("slack.post_message", {"channel": "Gen eral", "text": "x"}, "channel: String should"),
        ("slack.post_message", {"channel": "C0001", "blocks": [{"text": "x"}]}, "'type'"),
        ("slack.post_message", {"channel": "C0001", "text": "x", "thread_ts": "now"}, "thread_ts"),
        ("slack.get_channel_history", {}, "channel: Field required"),
        ("slack.get_channel_history", {"channel": "general"}, "channel: String should match"),
        ("slack.get_channel_history", {"channel": "C0001", "oldest": "1.2.3"}, "oldest: String"),
        (
            "slack.get_channel_history",
            {"channel": "C0001", "oldest": "1700000100.0", "latest": "1700000000.0"},
            "oldest must not be after latest",
        ),
        ("slack.list_users", {"limit": 0}, "limit: Input should be greater than or equal to 1"),
        ("slack.list_users", {"limit": 1000}, "limit: Input should be less than or equal to 100"),
        ("slack.list_channels", {"types": "public_channel,dm"}, "types: String should match"),
        ("slack.get_user_info", {"user": "alice"}, "user: String should match"),
        ("slack.get_user_info", {"user": "U0001", "team": "T1"}, "team: Extra inputs"),
        ("slack.create_channel", {"name": "Team Room"}, "name: String should match"),
        ("slack.create_channel", {"name": "---"}, "name: String should match"),
        ("slack.create_channel", {"name": "x" * 81}, "name: String should have at most 80"),
    ],
)
def test_malformed_params_never_reach_slack(client, sim, tool, params, complaint):
    with pytest.raises(BadParams, match=complaint):
        client.call(tool, params)

    assert sim.requests(provider="slack") == []


# ---- the error mapper, case by case (no worker needed) ----------------------------------


def _api_error(status: int, data: dict, headers: dict | None = None) -> SlackApiError:
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="https://slack.example/api/chat.postMessage",
        req_args={},
        data=data,
        headers=headers or {},
        status_code=status,
    )
    return SlackApiError("failed", response)


@pytest.mark.parametrize(
    ("exc", "expected", "details"),
    [
        (_api_error(200, {"error": "missing_scope", "needed": "chat:write"}), Unauthorized, {}),
        (_api_error(200, {"error": "not_in_channel"}), Unauthorized, {}),
        (_api_error(200, {"error": "token_revoked"}), Unauthorized, {}),
        (_api_error(200, {"error": "thread_not_found"}), NotFound, {}),
        (_api_error(200, {"error": "already_in_channel"}), Conflict, {}),
        (_api_error(200, {"error": "invalid_name_specials"}), BadParams, {}),
        (_api_error(200, {"error": "invalid_ts_oldest"}), BadParams, {}),
        (_api_error(200, {"error": "msg_too_long"}), BadParams, {}),
        (
            _api_error(429, {"error": "ratelimited"}, {"Retry-After": "7", "X-Slack-Req-Id": "r1"}),
            RateLimited,
            {"retry_after": 7.0, "request_id": "r1", "provider_status": 429},
        ),
        (_api_error(200, {"error": "rate_limited"}), RateLimited, {"retry_after": 1.0}),
        (_api_error(200, {"error": "fatal_error"}), Unavailable, {}),
        (_api_error(200, {"error": "service_unavailable"}), Unavailable, {}),
        (
            _api_error(502, {"error": "Received a response in a non-JSON format: <html>"}),
            Unavailable,
            {"provider_status": 502},
        ),
        (_api_error(200, {"error": "some_new_error"}), Fatal, {"code": "some_new_error"}),
        (URLError(ConnectionRefusedError(111, "refused")), Unavailable, {}),
        (TimeoutError("timed out"), Unavailable, {}),  # socket.timeout
        (RemoteDisconnected("closed"), Unavailable, {}),
    ],
)
def test_map_error_classifies_slack_and_network_failures(exc, expected, details):
    from tasks.slack.errors import map_error

    error = map_error(exc)

    assert type(error) is expected
    assert details.items() <= error.details.items()
    assert "The server responded with" not in error.message  # never the whole body


def test_missing_scope_says_which_scope_is_needed():
    from tasks.slack.errors import map_error

    error = map_error(_api_error(200, {"error": "missing_scope", "needed": "chat:write"}))

    assert error.message == "Slack chat.postMessage: missing_scope (needs chat:write)"
    assert error.details == {"provider_status": 200, "code": "missing_scope"}

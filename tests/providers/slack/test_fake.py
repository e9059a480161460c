"""Slack's part of the simulator, exercised through slack_sdk (tests.simulated)."""

from __future__ import annotations

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from simulator import Simulator
from tests import simulated
from tests.simulated import SLACK_TOKEN, slack

# The simulator tests' own simulator and clients (a module of the tests shares them).
sim, sl = simulated.sim, simulated.sl
_fresh_world = simulated.fresh_world


# -- Slack ---------------------------------------------------------------------------------
def test_slack_auth_test(sl: WebClient) -> None:
    # when
    me = sl.auth_test()
    # then
    assert (me["ok"], me["user_id"], me["team_id"], me["bot_id"]) == (
        True,
        "U0007",
        "T0001",
        "B0001",
    )


def test_slack_posted_message_and_thread_reply(sl: WebClient) -> None:
    # when
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "*deploy* done"}}
    posted = sl.chat_postMessage(channel="C0001", text="deploy done", blocks=[section])
    reply = sl.chat_postMessage(channel="#general", text="nice", thread_ts=posted["ts"])
    # then
    assert float(reply["ts"]) > float(posted["ts"]) > 1700000000.0001
    newest = sl.conversations_history(channel="C0001", limit=1)["messages"][0]
    assert (newest["ts"], newest["text"], newest["reply_count"]) == (posted["ts"], "deploy done", 1)
    assert newest["blocks"][0]["type"] == "section"
    thread = sl.conversations_replies(channel="C0001", ts=posted["ts"])["messages"]
    assert [m["text"] for m in thread] == ["deploy done", "nice"]


def test_slack_history_paginates_by_cursor(sl: WebClient) -> None:
    # when
    # (slack_sdk reuses one response object while iterating, so keep each page's data)
    pages = [page.data for page in sl.conversations_history(channel="C0001", limit=3)]
    # then
    texts = [m["text"] for page in pages for m in page["messages"]]
    assert len(pages) == 3 and texts == [f"Hello #{n}" for n in range(7, 0, -1)]
    assert [p["has_more"] for p in pages] == [True, True, False]
    oldest = sl.conversations_history(channel="C0001", oldest="1700000180.000100")
    assert [m["text"] for m in oldest["messages"]] == ["Hello #7", "Hello #6", "Hello #5"]


def test_slack_channels_list_paginates_and_hides_private(sl: WebClient) -> None:
    # when
    pages = [page.data for page in sl.conversations_list(limit=2, exclude_archived=True)]
    private = sl.conversations_list(types="private_channel")["channels"]
    # then
    names = [c["name"] for p in pages for c in p["channels"]]
    assert len(pages) == 3
    assert names == ["general", "random", "engineering", "alerts", "design", "releases"]
    assert [c["name"] for c in private] == ["secret-ops"]  # not a member of hr-private


def test_slack_users_list_and_info(sl: WebClient) -> None:
    # when
    pages = [page.data for page in sl.users_list(limit=3)]
    # then
    assert [len(p["members"]) for p in pages] == [3, 3, 1]
    assert sl.users_info(user="U0002")["user"]["real_name"] == "Bob Builder"
    with pytest.raises(SlackApiError) as missing:
        sl.users_info(user="U9999")
    assert (missing.value.response.status_code, missing.value.response["error"]) == (
        200,
        "user_not_found",
    )


def test_slack_create_channel_then_listed_and_errors(sl: WebClient) -> None:
    # when
    created = sl.conversations_create(name="incident-42", is_private=False)["channel"]
    # then
    listed = [c["id"] for c in sl.conversations_list(limit=100)["channels"]]
    assert created["name"] == "incident-42" and created["id"] in listed
    for name, error in [("incident-42", "name_taken"), ("Bad Name!", "invalid_name_specials")]:
        with pytest.raises(SlackApiError) as err:
            sl.conversations_create(name=name)
        assert err.value.response["error"] == error


def test_slack_errors_are_http_200_with_ok_false(sim: Simulator, sl: WebClient) -> None:
    # when / then
    with pytest.raises(SlackApiError) as unknown:
        sl.chat_postMessage(channel="C4040", text="x")
    assert (unknown.value.response.status_code, unknown.value.response["error"]) == (
        200,
        "channel_not_found",
    )
    with pytest.raises(SlackApiError) as bad_auth:
        slack(sim, token="xoxb-wrong").auth_test()
    assert bad_auth.value.response["error"] == "invalid_auth"


def test_slack_accepts_form_and_json_bodies(sim: Simulator) -> None:
    # when: form body carrying the token, then JSON body with a bearer header
    form = requests.post(
        f"{sim.slack_url}conversations.history",
        timeout=5,
        data={"token": SLACK_TOKEN, "channel": "C0001", "limit": "2"},
    )
    as_json = requests.post(
        f"{sim.slack_url}chat.postMessage",
        timeout=5,
        json={"channel": "C0002", "text": "json"},
        headers={"Authorization": f"Bearer {SLACK_TOKEN}"},
    )
    # then
    assert len(form.json()["messages"]) == 2
    assert as_json.json()["ok"] is True
    assert sim.requests("slack", path="history")[0]["body"]["token"] == "***"


def test_slack_bot_without_history_scopes_is_refused_history_and_replies(
    sim: Simulator, sl: WebClient
) -> None:
    # given
    sim.configure(slack_missing_scopes=["channels:history"])
    posted = sl.chat_postMessage(channel="C0002", text="chat:write still works")
    # when
    with pytest.raises(SlackApiError) as history:
        sl.conversations_history(channel="C0002")
    with pytest.raises(SlackApiError) as replies:
        sl.conversations_replies(channel="C0002", ts=posted["ts"])
    private = sl.conversations_history(channel="C0007")  # groups:history is still granted
    # then: HTTP 200, ok false, what was needed and what the token has
    for refused in (history, replies):
        response = refused.value.response
        assert (response.status_code, response["error"]) == (200, "missing_scope")
        assert response["needed"] == "channels:history"
        assert "chat:write" in response["provided"].split(",")
        assert "channels:history" not in response["provided"].split(",")
    assert "channels:history" not in history.value.response.headers["X-OAuth-Scopes"]
    assert private["ok"] is True
    sim.configure(slack_missing_scopes=["groups:history"])
    with pytest.raises(SlackApiError) as group:
        sl.conversations_history(channel="C0007")
    assert group.value.response["needed"] == "groups:history"


def test_slack_metadata_is_returned_only_with_include_all_metadata(sl: WebClient) -> None:
    # given
    marker = {"event_type": "toolfleet_run", "event_payload": {"run_id": "run-1"}}
    parent = sl.chat_postMessage(channel="C0002", text="parent", metadata=marker)
    sl.chat_postMessage(channel="C0002", text="reply", thread_ts=parent["ts"], metadata=marker)
    # when
    plain = sl.conversations_history(channel="C0002", limit=1)["messages"][0]
    full = sl.conversations_history(channel="C0002", limit=1, include_all_metadata=True)
    thread = sl.conversations_replies(
        channel="C0002", ts=parent["ts"], oldest=parent["ts"], include_all_metadata=True
    )
    # then
    assert "metadata" not in plain
    assert full["messages"][0]["metadata"] == marker
    assert [(m["text"], m["metadata"]) for m in thread["messages"]] == [
        ("parent", marker),
        ("reply", marker),
    ]
    with pytest.raises(SlackApiError) as bad:
        sl.chat_postMessage(channel="C0002", text="x", metadata={"event_payload": {}})
    assert bad.value.response["error"] == "invalid_metadata_schema"


def test_slack_tier1_history_is_one_call_a_minute_of_at_most_15_when_switched_on(
    sim: Simulator, sl: WebClient
) -> None:
    # given a channel with 20 messages, unlimited by default
    for n in range(20):
        sl.chat_postMessage(channel="C0005", text=f"m{n}")
    assert len(sl.conversations_history(channel="C0005", limit=100)["messages"]) == 20
    assert sl.conversations_history(channel="C0005", limit=100)["ok"] is True
    sim.configure(slack_tier1_history=True)
    # when
    first = sl.conversations_history(channel="C0005", limit=100)
    with pytest.raises(SlackApiError) as second:
        sl.conversations_history(channel="C0005", limit=5)
    replies = sl.conversations_replies(channel="C0005", ts=first["messages"][0]["ts"])
    # then: 15 at most, and the method's next call waits for the minute to end
    assert len(first["messages"]) == 15 and first["has_more"] is True
    response = second.value.response
    assert (response.status_code, response["error"]) == (429, "ratelimited")
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert replies["ok"] is True  # each method has its own budget

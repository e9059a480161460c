"""Slack's write tools, each beside its reconcile lookup: messages, channels.

``slack.post_message`` sends message ``metadata`` naming its run (event type
``toolfleet_run``); after an ambiguous failure the retry reads one page of
history (or of the thread's replies) with ``include_all_metadata`` and looks for
it (worker.runtime.reconcile). No ``auth.test`` and no text matching: blocks-only
posts are found too.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tasks.slack.channels import CHANNEL_ID, channel_scope, remember
from tasks.slack.client import TIER1_HISTORY, provider
from tasks.slack.params import CreateChannel, PostMessage
from tasks.slack.shapes import channel_summary, present
from worker.errors import Fatal
from worker.runtime.reconcile import MARK, lookup_since, run_mark

if TYPE_CHECKING:
    from slack_sdk import WebClient

RECONCILE_SCAN = 15  # history is Tier 1 for most apps: one page of at most 15
MARKER_EVENT = f"{MARK}_run"  # message metadata naming the run that posted it


def _posted_message(slack: WebClient, p: PostMessage, since: datetime) -> dict[str, Any] | None:
    """The message an earlier attempt of this run posted, found by its metadata marker
    in one page (RECONCILE_SCAN, Tier 1's maximum) of the messages since the run began.

    History takes a channel ID, and resolving a name means paging conversations.list:
    a post to a channel given by name is not looked up (the run records the lookup as
    skipped) and may repeat. A bot without ``channels:history`` gets ``missing_scope``
    here; the policy then posts anyway and records the skip the same way.
    """
    if not re.fullmatch(CHANNEL_ID, p.channel):
        raise Fatal("a channel given by name cannot be looked up (history takes an ID)")
    oldest = f"{lookup_since(since).timestamp():.6f}"
    lookup = {"channel": p.channel, "oldest": oldest, "limit": RECONCILE_SCAN}
    if p.thread_ts:
        found = slack.conversations_replies(ts=p.thread_ts, include_all_metadata=True, **lookup)
    else:
        found = slack.conversations_history(include_all_metadata=True, **lookup)
    run_id = run_mark()
    for message in found.data.get("messages", []):
        metadata = message.get("metadata") or {}
        payload = metadata.get("event_payload") or {}
        if metadata.get("event_type") == MARKER_EVENT and payload.get("run_id") == run_id:
            result = {"channel": p.channel, "ts": message["ts"], "text": message.get("text")}
            return result | present(thread_ts=message.get("thread_ts"))
    return None


@provider.tool(
    "slack.post_message",
    writes=True,
    scopes=["slack-post:{credential}", "slack-channel:{credential}:{channel_id}"],
    scope_values=channel_scope,
    reconcile=_posted_message,
    reconcile_scopes=[TIER1_HISTORY],  # replies are looked up on the same budget
)
def post_message(slack: WebClient, p: PostMessage) -> dict[str, Any]:
    """Post a message (text and/or Block Kit blocks) to a channel, optionally in a thread."""
    args = present(channel=p.channel, text=p.text, blocks=p.blocks, thread_ts=p.thread_ts)
    # Slack has no idempotency key: the message carries metadata naming its run,
    # and a retry after a lost response first looks for it (_posted_message).
    marker = {"event_type": MARKER_EVENT, "event_payload": {"run_id": run_mark()}}
    data = slack.chat_postMessage(**args, metadata=marker).data
    remember(p.channel, str(data.get("channel")), "default")  # a name's ID, for its scope
    message = data.get("message") or {}
    result = {"channel": data["channel"], "ts": data["ts"], "text": message.get("text", p.text)}
    return result | present(thread_ts=message.get("thread_ts"))


@provider.tool(
    "slack.create_channel", writes=True, scopes=["slack-tier2:{credential}:conversations.create"]
)
def create_channel(slack: WebClient, p: CreateChannel) -> dict[str, Any]:
    """Create a public or private channel (the name must be free)."""
    data = slack.conversations_create(name=p.name, is_private=p.is_private).data
    return channel_summary(data["channel"])

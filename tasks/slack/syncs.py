"""Slack sync kinds (see worker.syncs): ``slack.history``, a channel's messages as they
are posted.

A run reads ``conversations.history`` from the cursor's ``ts`` (``oldest=``,
inclusive), newest first, following Slack's own page cursor; the sync's
cursor becomes the newest ``ts`` when the run ends, so a run cut short
resumes from its page cursor without moving past messages it has not read.
Pages hold at most 15 messages and the scope is Tier 1 (1 request a minute)
by default: Slack's limits for apps not approved for the Marketplace.
Thread replies and later edits of old messages are not re-read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from tasks.slack.channels import CHANNEL_ID
from tasks.slack.client import TIER1_HISTORY, provider
from worker.syncs.kinds import Item, Page, rewind_ts, sync_kind

if TYPE_CHECKING:
    from slack_sdk import WebClient

PER_PAGE = 15


class HistorySync(BaseModel):
    """A ``slack.history`` sync's own fields."""

    channel: str = Field(pattern=rf"^{CHANNEL_ID}$", description='Channel ID ("C0123ABCD").')
    model_config = ConfigDict(extra="forbid")


@sync_kind(
    provider, "slack.history", scopes=[TIER1_HISTORY], rewind=rewind_ts, target=lambda c: c.channel
)
def history_since(slack: WebClient, config: HistorySync, since: str | None, token: Any) -> Page:
    """A channel's messages since the cursor."""
    args: dict[str, Any] = {"channel": config.channel, "limit": PER_PAGE, "inclusive": True}
    if since:
        args["oldest"] = since
    if token:
        args["cursor"] = token
    data = slack.conversations_history(**args).data
    messages = data.get("messages") or []
    items = [_item(config.channel, m) for m in messages if m.get("ts")]
    newest = max((m["ts"] for m in messages if m.get("ts")), default=None, key=float)
    following = (data.get("response_metadata") or {}).get("next_cursor") or None
    return Page(items, following, newest)


def _item(channel: str, message: dict[str, Any]) -> Item:
    payload = {
        "channel": channel,
        "ts": message["ts"],
        "user": message.get("user") or message.get("bot_id"),
        "text": message.get("text"),
        "thread_ts": message.get("thread_ts"),
        "reply_count": message.get("reply_count", 0),
        "edited": (message.get("edited") or {}).get("ts"),
    }
    return Item(f"{channel}:{message['ts']}", message["ts"], payload)

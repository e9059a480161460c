"""Slack's read tools: channels, users, a channel's history.

List tools fetch one page per call and pass Slack's own cursor through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tasks.shared.paging import page
from tasks.slack.client import TIER1_HISTORY, provider
from tasks.slack.params import GetChannelHistory, GetUserInfo, ListChannels, ListUsers
from tasks.slack.shapes import channel_summary, message_summary, next_cursor, present, user_summary

if TYPE_CHECKING:
    from slack_sdk import WebClient


@provider.tool(
    "slack.list_channels", writes=False, scopes=["slack-tier2:{credential}:conversations.list"]
)
def list_channels(slack: WebClient, p: ListChannels) -> dict[str, Any]:
    """List channels the bot can see, by type, archived ones left out by default."""
    data = slack.conversations_list(
        **present(
            types=p.types, exclude_archived=p.exclude_archived, limit=p.limit, cursor=p.cursor
        )
    ).data
    return page([channel_summary(c) for c in data.get("channels", [])], next_cursor(data))


@provider.tool("slack.get_user_info", writes=False, scopes=["slack-tier4:{credential}:users.info"])
def get_user_info(slack: WebClient, p: GetUserInfo) -> dict[str, Any]:
    """One user's name, real name, time zone and admin/bot/deleted flags."""
    return user_summary(slack.users_info(user=p.user).data["user"])


@provider.tool("slack.list_users", writes=False, scopes=["slack-tier2:{credential}:users.list"])
def list_users(slack: WebClient, p: ListUsers) -> dict[str, Any]:
    """List the workspace's users (deleted ones and bots included, flagged)."""
    data = slack.users_list(**present(limit=p.limit, cursor=p.cursor)).data
    return page([user_summary(u) for u in data.get("members", [])], next_cursor(data))


@provider.tool("slack.get_channel_history", writes=False, scopes=[TIER1_HISTORY])
def get_channel_history(slack: WebClient, p: GetChannelHistory) -> dict[str, Any]:
    """A channel's messages, newest first, optionally between two ts (thread replies excluded)."""
    data = slack.conversations_history(
        **present(
            channel=p.channel, oldest=p.oldest, latest=p.latest, limit=p.limit, cursor=p.cursor
        )
    ).data
    return page([message_summary(m) for m in data.get("messages", [])], next_cursor(data))

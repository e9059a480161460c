"""The fake Slack's world: one workspace.

Records are plain dicts holding facts, not API payloads: they are rendered per request,
so every URL inside them points back at whatever host/port the client used."""

from __future__ import annotations

from dataclasses import dataclass, field

from simulator.state import Record

# Scopes the simulated bot is granted (what X-OAuth-Scopes lists, minus missing ones).
SLACK_BOT_SCOPES = (
    "chat:write", "channels:read", "channels:history", "channels:manage",
    "groups:read", "groups:history", "users:read",
)  # fmt: skip


@dataclass
class SlackState:
    """One workspace: users, channels, and per-channel messages in ascending ``ts`` order."""

    team: Record
    bot_user: str
    users: dict[str, Record]
    channels: dict[str, Record]
    messages: dict[str, list[Record]]
    last_ts_us: int = 0  # last issued message ts, in microseconds
    next_channel: int = 100
    # OAuth scopes the bot token lacks (a bot often has chat:write, not channels:history).
    missing_scopes: set[str] = field(default_factory=set)
    # Tier 1 enforced on history and replies (a runtime switch); last call per method.
    tier1_history: bool = False
    tier1_calls: dict[str, float] = field(default_factory=dict)


def slack_scopes(slack: SlackState) -> str:
    """The bot's scopes, comma-separated (Slack's ``X-OAuth-Scopes`` and ``provided``)."""
    return ",".join(s for s in SLACK_BOT_SCOPES if s not in slack.missing_scopes)

"""In-memory world of the three fake providers.

Records are plain dicts holding *facts* (titles, logins, timestamps), not API payloads: the
provider modules render payloads per request so every URL inside them can point back at
whatever host/port the client used. ``seed.build_state()`` produces a fresh copy, which is how
``reset()`` restores the seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Record = dict[str, Any]


def utcnow() -> datetime:
    """Current time, second precision, timezone-aware (providers render it themselves)."""
    return datetime.now(UTC).replace(microsecond=0)


@dataclass
class GithubState:
    """Users, repositories and their issues/PRs/commits; PRs share the issue number space."""

    viewer: str
    users: dict[str, Record]
    repos: dict[str, Record]  # "owner/name" -> repo facts
    issues: dict[str, dict[int, Record]]  # repo -> number -> issue (PRs included, is_pull=True)
    pulls: dict[str, dict[int, Record]]  # repo -> number -> PR-only facts (branches, files...)
    commits: dict[str, list[Record]]  # repo -> newest first
    labels: dict[str, dict[str, Record]]  # repo -> label name -> label facts
    rate_used: dict[str, int] = field(default_factory=dict)  # bucket ("core"/"search") -> used
    rate_reset: int = 0  # epoch seconds when the buckets refill
    next_id: int = 500_000
    # The token is a GitHub App installation's: it may not read GET /user (403).
    app_installation: bool = False
    rate_limiting_disabled: bool = False  # GitHub Enterprise Server without rate limits

    def new_id(self) -> int:
        """Globally unique id for created issues, comments and reviews."""
        self.next_id += 1
        return self.next_id


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
    # Tier 1 enforced on history and replies (simulator.settings); last call per method.
    tier1_history: bool = False
    tier1_calls: dict[str, float] = field(default_factory=dict)


@dataclass
class JiraState:
    """Projects, issues, workflow and users of one Jira Server instance."""

    myself: str  # username of the API user
    users: dict[str, Record]  # username -> user facts
    projects: dict[str, Record]  # key -> project facts
    issues: dict[str, Record]  # key -> issue facts, creation order
    statuses: dict[str, Record]  # name -> status facts
    transitions: list[Record]  # {"id", "name", "from": [status names], "to": status name}
    priorities: dict[str, Record]
    issue_types: dict[str, Record]
    next_issue_id: int = 10_500
    next_comment_id: int = 20_000


@dataclass
class SimState:
    """Everything mutable behind the simulator's single lock."""

    github: GithubState
    slack: SlackState
    jira: JiraState

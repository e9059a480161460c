"""The fake GitHub's world: users, repositories and what they hold.

Records are plain dicts holding facts, not API payloads: they are rendered per request,
so every URL inside them points back at whatever host/port the client used."""

from __future__ import annotations

from dataclasses import dataclass, field

from simulator.state import Record


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

"""The fake Jira's world: one Jira Server instance.

Records are plain dicts holding facts, not API payloads: they are rendered per request,
so every URL inside them points back at whatever host/port the client used."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.state import Record


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

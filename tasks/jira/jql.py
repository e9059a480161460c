"""JQL from structured filters: every value one quoted string literal, field names fixed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from tasks.jira.params import SearchIssues

if TYPE_CHECKING:
    pass


def jql_string(value: str) -> str:
    """``value`` as one JQL string literal: in double quotes, ``\\`` and ``"`` escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_jql(p: SearchIssues, now: datetime | None = None) -> str:
    """The JQL for structured filters. Field names are fixed here; values are only ever
    quoted literals. ``updated_since`` becomes a relative period in minutes (rounded up,
    so the window is never narrower), which Jira reads the same in any user's timezone."""
    clauses = []
    if p.project:
        clauses.append(f"project = {jql_string(p.project)}")
    if p.status:
        clauses.append(f"status = {jql_string(p.status)}")
    if p.assignee:
        clauses.append(f"assignee = {jql_string(p.assignee)}")
    clauses += [f"labels = {jql_string(label)}" for label in p.labels]
    if p.text:
        text = jql_string(p.text)
        clauses.append(f"(summary ~ {text} OR description ~ {text})")
    if p.updated_since:
        since = p.updated_since if p.updated_since.tzinfo else p.updated_since.replace(tzinfo=UTC)
        seconds = ((now or datetime.now(UTC)) - since).total_seconds()
        minutes = -(-seconds // 60)  # ceil
        clauses.append(f'updated >= "{"-" if minutes >= 0 else "+"}{abs(int(minutes))}m"')
    order = f"ORDER BY {p.order_by or 'updated'} {p.order.upper()}"
    if p.order_by != "key":
        order += ", key ASC"  # a total order, so startAt pages neither skip nor repeat
    return " AND ".join(clauses) + (" " if clauses else "") + order

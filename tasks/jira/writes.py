"""Jira's write tools, each beside its reconcile lookup: issues, comments, transitions.

``jira.create_issue`` and ``jira.add_comment`` give what they create a
``toolfleet`` entity property ``{"run_id": ...}`` (posted through the library's
session: its own methods cannot send properties). After an ambiguous failure
the retry looks for that property before writing again (worker.runtime.reconcile).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tasks.jira.client import WRITE, provider
from tasks.jira.jql import jql_string
from tasks.jira.params import AddComment, CreateIssue, TransitionIssue
from tasks.shared.segments import segment
from worker.errors import BadParams
from worker.runtime.reconcile import MARK, lookup_since, run_mark
from worker.runtime.sdk import lazy

if TYPE_CHECKING:
    from jira import JIRA

# Loaded by Provider.connect, not by reading the catalog (worker.runtime.sdk).
jira_sdk = lazy("jira")


RECONCILE_SCAN = 50
MARKER_PROPERTY = MARK  # entity property on what a write creates: {"run_id": ...}


def _issue_ref(jira: JIRA, issue: Any) -> dict[str, Any]:
    return {"key": issue.key, "id": issue.id, "url": f"{jira.server_url}/browse/{issue.key}"}


def _marker() -> dict[str, Any]:
    """The entity property naming this run (how a reconcile finds our write)."""
    return {"key": MARKER_PROPERTY, "value": {"run_id": run_mark()}}


def _created_issue(jira: JIRA, p: CreateIssue, since: datetime) -> dict[str, Any] | None:
    """The issue an earlier attempt of this run created: among the project's issues
    created since the run began (newest first), one with this summary whose property
    names this run. The summary is compared here, not in JQL: ``summary ~`` is a fuzzy
    text search in which characters such as ``-`` or ``[`` mean something."""
    # + the minute JQL rounds away
    minutes = int((datetime.now(UTC) - lookup_since(since)).total_seconds() // 60) + 1
    jql = f'project = {jql_string(p.project)} AND created >= "-{minutes}m" ORDER BY created DESC'
    for issue in jira.search_issues(jql, maxResults=RECONCILE_SCAN, fields="summary"):
        if issue.fields.summary == p.summary and _marked_by_us(jira, issue.key):
            return _issue_ref(jira, issue)
    return None


def _marked_by_us(jira: JIRA, key: str) -> bool:
    # ``key`` comes from Jira's own search results: quoted all the same.
    url = jira._get_url(f"issue/{segment(key)}/properties/{MARKER_PROPERTY}")
    try:
        found = jira._session.get(url).json()
    except jira_sdk.JIRAError as exc:
        if exc.status_code == 404:  # no marker: not written by a run of this fleet
            return False
        raise
    return (found.get("value") or {}).get("run_id") == run_mark()


@provider.tool("jira.create_issue", writes=True, scopes=WRITE, reconcile=_created_issue)
def create_issue(jira: JIRA, p: CreateIssue) -> dict[str, Any]:
    """Create an issue in a project (type, priority, labels, components by name)."""
    # By key and by name: one POST, no project or issue-type lookups by the library.
    fields: dict[str, Any] = {
        "project": {"key": p.project},
        "summary": p.summary,
        "issuetype": {"name": p.issue_type},
    }
    if p.description:
        fields["description"] = p.description
    if p.priority:
        fields["priority"] = {"name": p.priority}
    if p.labels:
        fields["labels"] = p.labels
    if p.components:
        fields["components"] = [{"name": name} for name in p.components]
    # The library's create_issue cannot send entity properties: post the payload
    # through its session (same auth, same JIRAError on failure).
    payload = {"fields": fields, "properties": [_marker()]}
    created = jira._session.post(jira._get_url("issue"), data=json.dumps(payload)).json()
    return {
        "key": created["key"],
        "id": created["id"],
        "url": f"{jira.server_url}/browse/{created['key']}",
    }


def _added_comment(jira: JIRA, p: AddComment, since: datetime) -> dict[str, Any] | None:
    """The comment an earlier attempt of this run added, found by its property among
    the issue's newest RECONCILE_SCAN comments."""
    url = jira._get_url(f"issue/{segment(p.issue)}/comment")
    query = {"expand": "properties", "orderBy": "-created", "maxResults": RECONCILE_SCAN}
    found = jira._session.get(url, params=query).json()
    for comment in found.get("comments") or []:
        marks = {prop.get("key"): prop.get("value") for prop in comment.get("properties") or []}
        if (marks.get(MARKER_PROPERTY) or {}).get("run_id") == run_mark():
            return {"issue": p.issue, "id": comment["id"], "created": comment.get("created")}
    return None


@provider.tool("jira.add_comment", writes=True, scopes=WRITE, reconcile=_added_comment)
def add_comment(jira: JIRA, p: AddComment) -> dict[str, Any]:
    """Comment on an issue."""
    payload = {"body": p.body, "properties": [_marker()]}
    url = jira._get_url(f"issue/{segment(p.issue)}/comment")
    comment = jira._session.post(url, data=json.dumps(payload)).json()
    return {"issue": p.issue, "id": comment["id"], "created": comment.get("created")}


@provider.tool("jira.transition_issue", writes=True, scopes=WRITE)
def transition_issue(jira: JIRA, p: TransitionIssue) -> dict[str, Any]:
    """Move an issue through its workflow by transition name (any case); returns the new status."""
    key = segment(p.issue)  # the library joins it into issue/<key>/transitions unquoted
    available = jira.transitions(key)
    wanted = p.transition.casefold()
    move = next((t for t in available if t["name"].casefold() == wanted), None)
    if move is None:
        names = ", ".join(t["name"] for t in available) or "none"
        raise BadParams(f"{p.issue} has no transition {p.transition!r}; available: {names}")
    jira.transition_issue(key, str(move["id"]))
    # The transition's target, not a re-read: a failed read after a done transition
    # would retry the transition itself, which is no longer available.
    return {"issue": p.issue, "transition": move["name"], "status": move["to"]["name"]}

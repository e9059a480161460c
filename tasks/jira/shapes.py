"""What Jira's tools and syncs return: each object's summary and the paging cursor
(public: the sync kind shapes what it stores the same way).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tasks.shared.paging import decode_cursor, encode_cursor
from worker.errors import BadParams

if TYPE_CHECKING:
    pass


SEARCH_FIELDS = ("summary", "status", "assignee", "priority", "labels", "updated", "issuetype")


def start_of(cursor: str | None) -> int:
    start = (decode_cursor(cursor) or {}).get("start", 0)
    if not isinstance(start, int) or start < 0:
        raise BadParams("cursor is not a cursor this tool returned")
    return start


def cursor_at(start: int) -> str:
    return encode_cursor({"start": start})


def project_summary(project: Any) -> dict[str, Any]:
    shaped = {"key": project.key, "name": project.name, "id": project.id}
    lead = project.raw.get("lead")
    if lead:
        shaped["lead"] = lead.get("displayName") or lead.get("name")
    return shaped


def user_summary(raw: dict[str, Any] | None) -> dict[str, Any]:
    raw = raw or {}
    return {
        "name": raw.get("name"),
        "account_id": raw.get("accountId"),
        "display_name": raw.get("displayName"),
        "email": raw.get("emailAddress"),
        "active": raw.get("active"),
    }


def issue_summary(raw: dict[str, Any]) -> dict[str, Any]:
    fields = raw.get("fields") or {}
    assignee = fields.get("assignee") or {}
    return {
        "key": raw["key"],
        "id": raw["id"],
        "summary": fields.get("summary"),
        "status": (fields.get("status") or {}).get("name"),
        "assignee": assignee.get("name") or assignee.get("accountId"),
        "priority": (fields.get("priority") or {}).get("name"),
        "labels": fields.get("labels") or [],
        "updated": fields.get("updated"),
        "issue_type": (fields.get("issuetype") or {}).get("name"),
    }

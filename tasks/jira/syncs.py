"""Jira sync kinds (see worker.syncs): ``jira.issues``, the issues a JQL query selects,
as they change.

Each page asks ``(<jql>) AND updated >= "<since>" ORDER BY updated ASC, key ASC``
and the next page starts from the newest update it saw (keyset paging: an
issue edited during the run moves forward instead of shifting later pages).
JQL compares dates to the minute, so issues updated within the boundary
minute are read again (and written only if changed); a page whose issues all
share one minute pages on by position. A transition is an update.

JQL dates are read in the Jira user's own time zone: give the sync's user UTC,
or a lookback (``FLEET_SYNC_LOOKBACK_SECONDS``) longer than its offset.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tasks.jira.client import READ, provider
from tasks.jira.shapes import SEARCH_FIELDS, issue_summary
from worker.syncs.kinds import Item, Page, rewind_iso, sync_kind

if TYPE_CHECKING:
    from jira import JIRA

PER_PAGE = 100


class IssuesSync(BaseModel):
    """A ``jira.issues`` sync's own fields."""

    jql: str = Field(min_length=1, max_length=2000, description="Which issues, without ORDER BY.")
    model_config = ConfigDict(extra="forbid")

    @field_validator("jql")
    @classmethod
    def _no_order(cls, value: str) -> str:
        if "order by" in " ".join(value.lower().split()):
            raise ValueError("leave ORDER BY out: the sync orders by update time itself")
        return value


@sync_kind(provider, "jira.issues", scopes=READ, rewind=rewind_iso, target=lambda c: c.jql)
def issues_changed(jira: JIRA, config: IssuesSync, since: str | None, token: Any) -> Page:
    """Issues selected by a JQL query, changed since the cursor."""
    after = token["since"] if token else since
    position = token["page"] if token else None
    clause = f' AND updated >= "{_minute(after)}"' if after else ""
    jql = f"({config.jql}){clause} ORDER BY updated ASC, key ASC"
    raw, following = _search(jira, jql, position)
    items = [_item(issue) for issue in raw]
    newest = max((i.updated_at for i in items if i.updated_at), default=None)
    if following is None or not items:
        return Page(items, None, newest)
    if after and newest and _minute(newest) == _minute(after):  # one minute fills the page
        return Page(items, {"since": after, "page": following}, newest)
    return Page(items, {"since": newest, "page": None}, newest)


def _search(jira: JIRA, jql: str, position: Any) -> tuple[list[dict[str, Any]], Any]:
    """One page of issues and where the next one starts (None: this was the last)."""
    fields = list(SEARCH_FIELDS)
    if jira.deploymentType == "Cloud":  # Cloud's /search/jql pages by token
        found = jira.enhanced_search_issues(
            jql, nextPageToken=position, maxResults=PER_PAGE, fields=fields, json_result=True
        )
        issues = found.get("issues") or []
        more = found.get("nextPageToken") and not found.get("isLast")
        return issues, found.get("nextPageToken") if more else None
    start = int(position or 0)
    found = jira.search_issues(
        jql, startAt=start, maxResults=PER_PAGE, fields=fields, json_result=True
    )
    issues = found.get("issues") or []
    end = start + len(issues)
    return issues, end if end < int(found.get("total") or 0) else None


def _item(raw: dict[str, Any]) -> Item:
    payload = issue_summary(raw)
    updated = payload.get("updated")
    return Item(raw["key"], _utc(updated) if updated else None, payload)


def _utc(jira_time: str) -> str:
    """Jira's ``2024-05-01T10:00:00.000+0000`` as the cursor format (UTC, seconds, Z)."""
    moment = datetime.strptime(jira_time, "%Y-%m-%dT%H:%M:%S.%f%z")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _minute(cursor: str) -> str:
    moment = datetime.fromisoformat(cursor.replace("Z", "+00:00")).astimezone(UTC)
    return moment.strftime("%Y/%m/%d %H:%M")

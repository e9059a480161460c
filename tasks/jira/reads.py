"""Jira's read tools: projects, issue search (structured filters or raw JQL), users.

Structured search filters become JQL through :func:`tasks.jira.jql.build_jql`; a raw
``jql`` is passed as is. List tools fetch one page per call; the cursor carries
``startAt`` (or Jira Cloud's ``nextPageToken``).
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from tasks.jira.client import READ, provider
from tasks.jira.jql import build_jql
from tasks.jira.params import FindProject, ListProjects, ListUsers, SearchIssues
from tasks.jira.shapes import (
    SEARCH_FIELDS,
    cursor_at,
    issue_summary,
    project_summary,
    start_of,
    user_summary,
)
from tasks.shared.paging import decode_cursor, encode_cursor, page
from worker.errors import BadParams, NotFound

if TYPE_CHECKING:
    from jira import JIRA


@provider.tool("jira.list_projects", writes=False, scopes=READ)
def list_projects(jira: JIRA, p: ListProjects) -> dict[str, Any]:
    """Projects visible to the account: key, name, id, lead."""
    start = start_of(p.cursor)
    projects = jira.projects(expand="lead")  # Jira's /project is not paged: slice it here
    batch = projects[start : start + p.limit]
    more = start + p.limit < len(projects)
    return page([project_summary(x) for x in batch], cursor_at(start + p.limit) if more else None)


@provider.tool("jira.find_project", writes=False, scopes=READ)
def find_project(jira: JIRA, p: FindProject) -> dict[str, Any]:
    """Find a project by name or key: exact (any case) first, else the one name containing it."""
    projects = jira.projects(expand="lead")
    wanted = p.name.casefold()
    exact = [x for x in projects if wanted in (x.name.casefold(), x.key.casefold())]
    partial = [x for x in projects if wanted in x.name.casefold()]
    if exact or len(partial) == 1:
        return project_summary((exact or partial)[0])
    names = [x.name for x in projects]
    if partial:
        raise BadParams(
            f"{p.name!r} matches several projects: {', '.join(x.name for x in partial)}"
        )
    close = difflib.get_close_matches(p.name, names, n=5, cutoff=0.4) or names[:10]
    raise NotFound(f"no project named {p.name!r}; close: {', '.join(close) or 'none'}")


@provider.tool("jira.search_issues", writes=False, scopes=READ)
def search_issues(jira: JIRA, p: SearchIssues) -> dict[str, Any]:
    """Search issues with raw JQL or structured filters (quoted safely); the JQL run is returned."""
    jql = p.jql if p.jql is not None else build_jql(p)
    state = decode_cursor(p.cursor) or {}
    fields = list(SEARCH_FIELDS)  # the library rewrites this list in place
    if jira.deploymentType == "Cloud":  # Cloud's /search/jql pages by token, without a total
        found = jira.enhanced_search_issues(
            jql,
            nextPageToken=state.get("token"),
            maxResults=p.limit,
            fields=fields,
            json_result=True,
        )
        token, total = found.get("nextPageToken"), None
        next_cursor = encode_cursor({"token": token}) if token and not found.get("isLast") else None
    else:
        start = start_of(p.cursor)
        found = jira.search_issues(
            jql, startAt=start, maxResults=p.limit, fields=fields, json_result=True
        )
        total = int(found.get("total") or 0)
        end = start + len(found.get("issues") or [])
        next_cursor = cursor_at(end) if found.get("issues") and end < total else None
    items = [issue_summary(raw) for raw in found.get("issues") or []]
    return {**page(items, next_cursor), "total": total, "jql": jql}


@provider.tool("jira.list_users", writes=False, scopes=READ)
def list_users(jira: JIRA, p: ListUsers) -> dict[str, Any]:
    """Active users matching a name, display name or email."""
    start = start_of(p.cursor)
    by = {"query": p.query} if jira.deploymentType == "Cloud" else {"user": p.query}
    # One extra row tells whether another page exists (the endpoint gives no total).
    found = jira.search_users(startAt=start, maxResults=p.limit + 1, **by)
    users = [user_summary(u.raw) for u in found[: p.limit]]
    return page(users, cursor_at(start + p.limit) if len(found) > p.limit else None)

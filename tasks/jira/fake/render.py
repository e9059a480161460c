"""Jira REST API v2 object shapes (issue, project, user, status, comment, transition).

Shapes follow Atlassian's v2 documentation for Jira Server/Data Center. Users carry both the
Server identifiers (``name``/``key``) and a Cloud-style ``accountId`` so code written for
either flavour finds what it reads. Every ``self`` link points back at the simulator.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from simulator.state import Record
from tasks.jira.fake.state import JiraState

Json = dict[str, Any]
FIELDS = ("summary", "description", "issuetype", "project", "status", "priority", "labels",
          "components", "assignee", "reporter", "created", "updated", "resolution",
          "resolutiondate", "comment", "fixVersions", "duedate")  # fmt: skip


def jira_time(value: datetime | None) -> str | None:
    """Jira timestamp format: ``2024-02-01T10:00:00.000+0000``."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.000+0000") if value else None


def server_info(base_url: str, now: datetime, deployment: str) -> Json:
    """``/serverInfo``; ``deployment`` "Server" makes the ``jira`` library page ``/search`` with
    ``startAt``/``total``, "Cloud" makes it use ``/search/jql`` with ``nextPageToken``."""
    return {
        "baseUrl": base_url, "version": "9.12.2", "versionNumbers": [9, 12, 2],
        "deploymentType": deployment, "buildNumber": 9120002,
        "buildDate": "2024-01-01T00:00:00.000+0000", "serverTime": jira_time(now),
        "scmInfo": "simulated", "serverTitle": "Sim Jira",
    }  # fmt: skip


def fields() -> list[Json]:
    """``/field``: system fields with their JQL clause names (read by ``search_issues``)."""
    return [
        {"id": n, "key": n, "name": n[0].upper() + n[1:], "custom": False, "orderable": True,
         "navigable": True, "searchable": True, "clauseNames": [n]}
        for n in FIELDS
    ]  # fmt: skip


def user(api: str, st: JiraState, name: str | None) -> Json | None:
    """User object (``/myself``, ``/user/search``, issue people fields)."""
    if name is None:
        return None
    u = st.users[name]
    avatar = f"{api.rsplit('/rest/', 1)[0]}/secure/useravatar?owner={name}"
    return {
        "self": f"{api}/user?username={name}", "key": name, "name": name,
        "accountId": u["account_id"], "emailAddress": u["email"],
        "avatarUrls": {size: f"{avatar}&s={size}" for size in ("16x16", "24x24", "32x32", "48x48")},
        "displayName": u["display"], "active": u["active"], "timeZone": "UTC", "locale": "en_US",
    }  # fmt: skip


def status(api: str, st: JiraState, name: str) -> Json:
    """Status with its category (``new``/``indeterminate``/``done``)."""
    facts = st.statuses[name]
    key, cat_id, color, cat_name = facts["category"]
    return {
        "self": f"{api}/status/{facts['id']}", "description": "", "name": name, "id": facts["id"],
        "iconUrl": f"{api}/status/{facts['id']}/icon",
        "statusCategory": {"self": f"{api}/statuscategory/{cat_id}", "id": cat_id, "key": key,
                           "colorName": color, "name": cat_name},
    }  # fmt: skip


def issue_type(api: str, st: JiraState, name: str) -> Json:
    tid = st.issue_types[name]["id"]
    return {"self": f"{api}/issuetype/{tid}", "id": tid, "description": f"A {name.lower()}",
            "iconUrl": f"{api}/issuetype/{tid}/icon", "name": name, "subtask": False}  # fmt: skip


def priority(api: str, st: JiraState, name: str) -> Json:
    pid = st.priorities[name]["id"]
    return {"self": f"{api}/priority/{pid}", "iconUrl": f"{api}/priority/{pid}/icon",
            "name": name, "id": pid}  # fmt: skip


def project(api: str, st: JiraState, key: str, full: bool = False) -> Json:
    """Project; ``full`` adds lead, components and issue types like ``GET /project/{key}``."""
    p = st.projects[key]
    out: Json = {
        "expand": "description,lead,url,projectKeys", "self": f"{api}/project/{p['id']}",
        "id": p["id"], "key": key, "name": p["name"], "projectTypeKey": "software",
        "avatarUrls": {"48x48": f"{api}/project/{p['id']}/avatar"}, "archived": False,
    }  # fmt: skip
    if full:
        out.update(
            description=f"{p['name']} (simulated)",
            lead=user(api, st, p["lead"]),
            components=[component(api, cid, n) for n, cid in p["components"].items()],
            issueTypes=[issue_type(api, st, n) for n in st.issue_types],
            assigneeType="UNASSIGNED",
            versions=[],
            roles={},
            projectKeys=[key],
        )
    return out


def component(api: str, cid: str, name: str) -> Json:
    return {"self": f"{api}/component/{cid}", "id": cid, "name": name}


def comment(api: str, st: JiraState, issue_id: str, c: Record) -> Json:
    author = user(api, st, c["author"])
    return {
        "self": f"{api}/issue/{issue_id}/comment/{c['id']}", "id": c["id"], "author": author,
        "body": c["body"], "updateAuthor": author, "created": jira_time(c["created"]),
        "updated": jira_time(c["created"]),
    }  # fmt: skip


def transition(api: str, st: JiraState, t: Record) -> Json:
    return {"id": t["id"], "name": t["name"], "to": status(api, st, t["to"]),
            "hasScreen": False, "isGlobal": False, "isInitial": False, "isAvailable": True,
            "isConditional": False, "isLooped": False, "fields": {}}  # fmt: skip


def issue(api: str, st: JiraState, i: Record, fields: list[str] | None = None) -> Json:
    """Issue; ``fields`` limits the ``fields`` block like the ``fields=`` query parameter."""
    p = st.projects[i["project"]]
    comments = [comment(api, st, i["id"], c) for c in i["comments"]]
    everything: Json = {
        "summary": i["summary"], "description": i["description"],
        "issuetype": issue_type(api, st, i["issuetype"]), "project": project(api, st, p["key"]),
        "status": status(api, st, i["status"]),
        "priority": priority(api, st, i["priority"]) if i["priority"] else None,
        "labels": list(i["labels"]),
        "components": [component(api, p["components"][n], n) for n in i["components"]],
        "assignee": user(api, st, i["assignee"]), "reporter": user(api, st, i["reporter"]),
        "creator": user(api, st, i["reporter"]), "created": jira_time(i["created"]),
        "updated": jira_time(i["updated"]),
        "resolution": {"self": f"{api}/resolution/10000", "id": "10000", "name": i["resolution"],
                       "description": "Work has been completed."} if i["resolution"] else None,
        "resolutiondate": jira_time(i["resolved"]), "fixVersions": [], "duedate": None,
        "comment": {"comments": comments, "maxResults": len(comments), "total": len(comments),
                    "startAt": 0},
    }  # fmt: skip
    wanted = fields or ["*all"]
    if not {"*all", "*navigable"} & set(wanted):
        everything = {k: v for k, v in everything.items() if k in wanted}
    return {"expand": "renderedFields,names,schema,operations,editmeta,changelog",
            "id": i["id"], "self": f"{api}/issue/{i['id']}", "key": i["key"],
            "fields": everything}  # fmt: skip

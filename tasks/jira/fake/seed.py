"""Jira's seed: two projects, their workflow and ten issues (7 in DEMO)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from simulator.state import Record
from tasks.jira.fake.state import JiraState


def seed() -> JiraState:
    """A fresh copy of the seeded instance."""
    users = {
        name: {"name": name, "email": email, "display": display, "active": True,
               "account_id": f"5f00000000000000000000{i:02d}"}
        for i, (name, email, display) in enumerate([
            ("sim", "sim@example.com", "Sim User"),
            ("alice", "alice@example.com", "Alice Liddell"),
            ("bob", "bob@example.com", "Bob Builder"),
            ("carol", "carol@example.com", "Carol Danvers"),
        ])
    }  # fmt: skip
    projects = {
        "DEMO": {"id": "10000", "key": "DEMO", "name": "Demo Project", "lead": "sim",
                 "components": {"Backend": "10100", "Frontend": "10101"}, "counter": 0},
        "OPS": {"id": "10001", "key": "OPS", "name": "Operations", "lead": "alice",
                "components": {"Infra": "10102"}, "counter": 0},
    }  # fmt: skip
    statuses = {
        "To Do": {"id": "10000", "category": ("new", 2, "blue-gray", "To Do")},
        "In Progress": {"id": "3", "category": ("indeterminate", 4, "yellow", "In Progress")},
        "Done": {"id": "10001", "category": ("done", 3, "green", "Done")},
    }
    transitions = [
        {"id": "11", "name": "Start Progress", "from": ["To Do"], "to": "In Progress"},
        {"id": "21", "name": "Done", "from": ["In Progress"], "to": "Done"},
        {"id": "31", "name": "Stop Progress", "from": ["In Progress"], "to": "To Do"},
        {"id": "41", "name": "Reopen", "from": ["Done"], "to": "To Do"},
    ]
    priorities = {n: {"id": str(i + 1)} for i, n in enumerate(
        ["Highest", "High", "Medium", "Low", "Lowest"])}  # fmt: skip
    issue_types = {"Epic": {"id": "10000"}, "Story": {"id": "10001"}, "Task": {"id": "10002"},
                   "Bug": {"id": "10004"}}  # fmt: skip
    state = JiraState(myself="sim", users=users, projects=projects, issues={},
                      statuses=statuses, transitions=transitions, priorities=priorities,
                      issue_types=issue_types, next_issue_id=10_000)  # fmt: skip
    seed = [
        ("DEMO", "Login page returns 500", "Bug", "High", "To Do", "alice", ["api"], ["Backend"]),
        ("DEMO", "Add dark mode", "Story", "Medium", "In Progress", "bob", ["ui"], ["Frontend"]),
        ("DEMO", "Upgrade database driver", "Task", "Low", "Done", None, ["backend", "deps"], []),
        ("DEMO", "Flaky login test", "Bug", "Medium", "To Do", "sim", ["flaky"], ["Backend"]),
        ("DEMO", "Document the public API", "Task", "Lowest", "To Do", None, [], []),
        ("DEMO", "Crash when saving profile", "Bug", "Highest", "In Progress", "alice", [], []),
        ("DEMO", "Search is slow", "Story", "Medium", "To Do", "carol", ["perf"], []),
        ("OPS", "Rotate TLS certificates", "Task", "High", "To Do", "alice", ["tls"], ["Infra"]),
        ("OPS", "Disk almost full on db-1", "Bug", "Highest", "In Progress", "bob", [], []),
        ("OPS", "Decommission old VPN", "Task", "Low", "Done", "sim", [], ["Infra"]),
    ]  # fmt: skip
    for n, (proj, summary, itype, prio, status, assignee, labels, comps) in enumerate(seed):
        created = datetime(2024, 2, 1, 10, tzinfo=UTC) + timedelta(days=n)
        add_jira_issue(state, {
            "project": proj, "summary": summary, "description": f"{summary}.\nSeeded issue.",
            "issuetype": itype, "priority": prio, "status": status, "assignee": assignee,
            "reporter": "sim", "labels": labels, "components": comps, "created": created,
            "updated": created + timedelta(hours=n * 5),
        })  # fmt: skip
    return state


def add_jira_issue(state: JiraState, facts: Record) -> Record:
    """Allocate id/key for a new issue in its project and store it."""
    project = state.projects[facts["project"]]
    project["counter"] += 1
    state.next_issue_id += 1
    done = facts["status"] == "Done"
    issue = {"id": str(state.next_issue_id), "key": f"{project['key']}-{project['counter']}",
             "resolution": "Done" if done else None, "resolved": facts["updated"] if done else None,
             "comments": [], **facts}  # fmt: skip
    state.issues[issue["key"]] = issue
    return issue

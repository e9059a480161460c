"""Seed data: a small but non-trivial world for each provider.

Sizes are chosen so pagination is observable with small pages (7 issues, 7 commits, 7 Slack
users, 6 unarchived public channels, 7 messages in #general, 7 Jira issues in DEMO) while the
whole world stays readable in one screen per provider.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from simulator.state import GithubState, JiraState, Record, SimState, SlackState


def _at(day: int, hour: int = 9) -> datetime:
    return datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=day - 1, hours=hour)


def _sha(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def _patch(added: int, removed: int) -> str:
    lines = [f"@@ -1,{removed + 1} +1,{added + 1} @@", " context line"]
    lines += [f"-old line {i}" for i in range(removed)]
    lines += [f"+new line {i}" for i in range(added)]
    return "\n".join(lines)


def _gh_file(name: str, status: str, added: int, removed: int) -> Record:
    return {"filename": name, "status": status, "additions": added, "deletions": removed,
            "patch": _patch(added, removed), "sha": _sha(name)}  # fmt: skip


def _github() -> GithubState:
    users = {
        login: {"id": uid, "name": name, "email": f"{login}@example.com", "type": kind}
        for login, uid, name, kind in [
            ("sim-user", 1, "Sim User", "User"),
            ("octocat", 2, "The Octocat", "User"),
            ("alice", 3, "Alice Liddell", "User"),
            ("bob", 4, "Bob Builder", "User"),
            ("carol", 5, "Carol Danvers", "User"),
            ("octo", 100, "Octo Org", "Organization"),
            ("acme", 101, "Acme Corp", "Organization"),
        ]
    }
    repos = {
        f"{owner}/{name}": {"id": rid, "owner": owner, "name": name, "description": desc,
                            "language": lang, "private": False, "stars": stars, "forks": 3,
                            "created_at": _at(1, 0) - timedelta(days=300), "pushed_at": _at(7),
                            "updated_at": _at(7), "default_branch": "main", "topics": topics}
        for rid, owner, name, desc, lang, stars, topics in [
            (1001, "octo", "hello", "Hello world service", "Python", 42, ["demo", "python"]),
            (1002, "octo", "widgets", "Widget toolkit for hello", "Go", 7, ["ui"]),
            (1003, "acme", "api", "Public API gateway", "TypeScript", 120, ["api"]),
            (1004, "octo", "hello-docs", "Documentation site", "Markdown", 2, ["docs"]),
        ]
    }  # fmt: skip
    label_colors = {"bug": "d73a4a", "enhancement": "a2eeef", "docs": "0075ca",
                    "good first issue": "7057ff"}  # fmt: skip
    labels = {
        repo: {n: {"id": 9000 + i, "color": c} for i, (n, c) in enumerate(label_colors.items())}
        for repo in repos
    }
    issues: dict[str, dict[int, Record]] = {repo: {} for repo in repos}
    hello = [
        (1, "Crash on startup with empty config", ["bug"], ["alice"], "octocat", "open"),
        (2, "Add retry to HTTP client", ["enhancement"], [], "alice", "open"),
        (3, "Docs: explain configuration", ["docs"], [], "bob", "closed"),
        (4, "Memory leak in worker pool", ["bug"], ["bob"], "carol", "open"),
        (5, "Support Python 3.12", ["enhancement"], [], "octocat", "open"),
        (6, "Typo in README", ["docs", "good first issue"], [], "carol", "closed"),
        (7, "Flaky test test_timeout", ["bug"], ["alice", "bob"], "alice", "open"),
        (8, "Add retry with backoff", [], [], "alice", "open"),
        (9, "Fix crash on empty config", ["bug"], ["sim-user"], "bob", "open"),
        (10, "Update README badges", ["docs"], [], "carol", "closed"),
    ]
    for num, title, lbls, assignees, author, state in hello:
        issues["octo/hello"][num] = _issue(num, title, lbls, assignees, author, state, num >= 8)
    for num, title in [(1, "Button renders twice"), (2, "Dark mode")]:
        issues["octo/widgets"][num] = _issue(num, title, [], [], "bob", "open", False)
    issues["acme/api"][1] = _issue(1, "Rate limit headers missing", ["bug"], [], "carol",
                                   "open", False)  # fmt: skip
    for repo, numbered in issues.items():  # globally unique ids, as on GitHub
        for num, rec in numbered.items():
            rec["id"] = repos[repo]["id"] * 1000 + num
    pulls: dict[str, dict[int, Record]] = {repo: {} for repo in repos}
    pulls["octo/hello"] = {
        8: _pull("feature/retry", False, [_gh_file("src/hello/client.py", "modified", 12, 3),
                                          _gh_file("tests/test_client.py", "added", 40, 0)]),
        9: _pull("fix/empty-config", False, [_gh_file("src/hello/config.py", "modified", 5, 1)]),
        10: _pull("docs/badges", True, [_gh_file("README.md", "modified", 2, 2)]),
    }  # fmt: skip
    commits: dict[str, list[Record]] = {}
    people = ["octocat", "alice", "bob", None, "alice", "carol", "octocat"]
    for repo, count in [("octo/hello", 7), ("octo/widgets", 2), ("acme/api", 1)]:
        commits[repo] = [
            {"sha": _sha(f"{repo}:{i}"), "message": f"Commit {i} on {repo}", "date": _at(i + 1),
             "author": people[i], "name": (people[i] or "Ghost Writer").title(),
             "email": f"{people[i] or 'ghost'}@example.com",
             "files": [_gh_file(f"src/file_{i % 3}.py", "modified", i + 1, i % 2)]}
            for i in reversed(range(count))
        ]  # fmt: skip
    return GithubState(viewer="sim-user", users=users, repos=repos, issues=issues,
                       pulls=pulls, commits=commits, labels=labels)  # fmt: skip


def _issue(num: int, title: str, labels: list[str], assignees: list[str], author: str,
           state: str, is_pull: bool) -> Record:  # fmt: skip
    created = _at(num, 8)
    return {
        "id": 0, "number": num, "title": title,
        "body": f"Details for: {title}", "labels": labels, "assignees": assignees,
        "user": author, "state": state, "created_at": created,
        "updated_at": created + timedelta(hours=num), "is_pull": is_pull,
        "closed_at": created + timedelta(hours=num) if state == "closed" else None,
        "comments": [],
    }  # fmt: skip


def _pull(head: str, merged: bool, files: list[Record]) -> Record:
    return {"head": head, "base": "main", "head_sha": _sha(head), "merged": merged,
            "files": files, "reviews": [], "commits": len(files)}  # fmt: skip


def _slack() -> SlackState:
    team = {"id": "T0001", "name": "Sim Workspace", "domain": "sim-workspace"}
    users = {
        uid: {"id": uid, "name": name, "real_name": real, "is_bot": uid == "U0007",
              "deleted": uid == "U0006", "is_admin": uid == "U0001", "tz": "Europe/Paris"}
        for uid, name, real in [
            ("U0001", "alice", "Alice Liddell"), ("U0002", "bob", "Bob Builder"),
            ("U0003", "carol", "Carol Danvers"), ("U0004", "dave", "Dave Grohl"),
            ("U0005", "erin", "Erin Brockovich"), ("U0006", "frank", "Frank Ocean"),
            ("U0007", "simbot", "Sim Bot"),
        ]
    }  # fmt: skip
    members = ["U0001", "U0002", "U0003", "U0007"]
    channels = {
        cid: {"id": cid, "name": name, "is_private": private, "is_archived": archived,
              "is_general": cid == "C0001", "created": 1690000000 + i * 86400,
              "creator": "U0001", "members": list(members) if cid != "C0008" else ["U0001"],
              "topic": f"All about {name}", "purpose": f"Channel for {name}"}
        for i, (cid, name, private, archived) in enumerate([
            ("C0001", "general", False, False), ("C0002", "random", False, False),
            ("C0003", "engineering", False, False), ("C0004", "alerts", False, False),
            ("C0005", "design", False, False), ("C0006", "old-project", False, True),
            ("C0007", "secret-ops", True, False), ("C0008", "hr-private", True, False),
            ("C0009", "releases", False, False),
        ])
    }  # fmt: skip
    messages: dict[str, list[Record]] = {cid: [] for cid in channels}
    base_us = 1_700_000_000_000_100
    for i in range(7):
        ts = base_us + i * 60_000_000
        messages["C0001"].append({"ts": ts, "user": members[i % 3], "text": f"Hello #{i + 1}"})
    parent = base_us + 3_600_000_000
    messages["C0003"] = [
        {"ts": parent, "user": "U0002", "text": "Deploy is failing"},
        {"ts": parent + 1_000_000, "user": "U0001", "text": "Looking", "thread_ts": parent},
        {"ts": parent + 2_000_000, "user": "U0003", "text": "Fixed", "thread_ts": parent},
    ]
    return SlackState(team=team, bot_user="U0007", users=users, channels=channels,
                      messages=messages, last_ts_us=parent + 2_000_000)  # fmt: skip


def _jira() -> JiraState:
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


def build_state() -> SimState:
    """A fresh copy of the seeded world."""
    return SimState(github=_github(), slack=_slack(), jira=_jira())

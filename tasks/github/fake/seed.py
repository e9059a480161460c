"""GitHub's seed: users, repositories, issues, pull requests and commits.

Sizes are chosen so pagination is observable with small pages (7 issues, 7 commits)
while the whole world stays readable in one screen."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from simulator.state import Record
from tasks.github.fake.state import GithubState


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


def seed() -> GithubState:
    """A fresh copy of the seeded GitHub."""
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

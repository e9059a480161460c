"""GitHub REST payload builders, shaped after recorded api.github.com responses.

Every ``url``-like field points back at the simulator (``links.api`` for API resources,
``links.web`` for ``html_url``), because PyGithub follows those URLs for lazy completion
and pagination. Only fields PyGithub reads or agents plausibly use are emitted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from simulator.state import Record
from tasks.github.fake.state import GithubState

Json = dict[str, Any]


@dataclass(frozen=True)
class Links:
    """Base URLs for one request: API root (``.../github``) and the fake web UI root."""

    api: str
    web: str


def iso(value: datetime | None) -> str | None:
    """GitHub timestamp format: ``2024-01-02T03:04:05Z``."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def user(links: Links, st: GithubState, login: str | None) -> Json | None:
    """Simple user object as embedded in issues, commits, PRs."""
    if login is None:
        return None
    facts = st.users.get(login, {"id": 0, "type": "User"})
    base = f"{links.api}/users/{login}"
    return {
        "login": login, "id": facts["id"], "node_id": f"MDQ6VXNlcj{facts['id']}",
        "avatar_url": f"{links.web}/avatars/{login}", "gravatar_id": "", "url": base,
        "html_url": f"{links.web}/{login}", "followers_url": f"{base}/followers",
        "following_url": f"{base}/following{{/other_user}}",
        "gists_url": f"{base}/gists{{/gist_id}}",
        "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{base}/subscriptions",
        "organizations_url": f"{base}/orgs", "repos_url": f"{base}/repos",
        "events_url": f"{base}/events{{/privacy}}",
        "received_events_url": f"{base}/received_events",
        "type": facts["type"], "site_admin": False,
    }  # fmt: skip


def full_user(links: Links, st: GithubState, login: str) -> Json:
    """``GET /users/{login}`` shape."""
    facts = st.users[login]
    owned = [r for r in st.repos.values() if r["owner"] == login]
    return {
        **(user(links, st, login) or {}), "name": facts["name"], "company": None, "blog": "",
        "location": None, "email": facts["email"], "hireable": None, "bio": None,
        "twitter_username": None, "public_repos": len(owned), "public_gists": 0,
        "followers": 0, "following": 0, "created_at": "2020-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
    }  # fmt: skip


def repo(links: Links, st: GithubState, full_name: str, score: float | None = None) -> Json:
    """Repository object (``GET /repos/{owner}/{repo}``, search items add ``score``)."""
    r = st.repos[full_name]
    api, web = f"{links.api}/repos/{full_name}", f"{links.web}/{full_name}"
    open_count = sum(1 for i in st.issues[full_name].values() if i["state"] == "open")
    out: Json = {
        "id": r["id"], "node_id": f"R_kgDO{r['id']}", "name": r["name"], "full_name": full_name,
        "owner": user(links, st, r["owner"]), "private": r["private"], "html_url": web,
        "description": r["description"], "fork": False, "url": api,
        "forks_url": f"{api}/forks", "hooks_url": f"{api}/hooks",
        "issues_url": f"{api}/issues{{/number}}", "pulls_url": f"{api}/pulls{{/number}}",
        "commits_url": f"{api}/commits{{/sha}}", "labels_url": f"{api}/labels{{/name}}",
        "comments_url": f"{api}/comments{{/number}}", "contents_url": f"{api}/contents/{{+path}}",
        "branches_url": f"{api}/branches{{/branch}}", "tags_url": f"{api}/tags",
        "languages_url": f"{api}/languages", "milestones_url": f"{api}/milestones{{/number}}",
        "created_at": iso(r["created_at"]), "updated_at": iso(r["updated_at"]),
        "pushed_at": iso(r["pushed_at"]), "git_url": f"git://sim/{full_name}.git",
        "ssh_url": f"git@sim:{full_name}.git", "clone_url": f"{web}.git", "svn_url": web,
        "homepage": None, "size": 100, "stargazers_count": r["stars"],
        "watchers_count": r["stars"], "language": r["language"], "has_issues": True,
        "has_projects": True, "has_downloads": True, "has_wiki": True, "has_pages": False,
        "forks_count": r["forks"], "archived": False, "disabled": False,
        "open_issues_count": open_count, "license": None, "topics": r["topics"],
        "visibility": "private" if r["private"] else "public", "forks": r["forks"],
        "open_issues": open_count, "watchers": r["stars"], "default_branch": r["default_branch"],
        "permissions": {"admin": False, "maintain": False, "push": True, "triage": True,
                        "pull": True},
    }  # fmt: skip
    if score is not None:
        out["score"] = score
    return out


def label(links: Links, st: GithubState, full_name: str, name: str) -> Json:
    """Label object."""
    facts = st.labels[full_name].get(name, {"id": 0, "color": "ededed"})
    return {"id": facts["id"], "node_id": f"LA_{facts['id']}", "name": name,
            "url": f"{links.api}/repos/{full_name}/labels/{name}", "color": facts["color"],
            "default": name == "bug", "description": None}  # fmt: skip


def issue(links: Links, st: GithubState, full_name: str, rec: Record) -> Json:
    """Issue object; PRs carry a ``pull_request`` block as on the real API."""
    api = f"{links.api}/repos/{full_name}/issues/{rec['number']}"
    kind = "pull" if rec["is_pull"] else "issues"
    out: Json = {
        "url": api, "repository_url": f"{links.api}/repos/{full_name}",
        "labels_url": f"{api}/labels{{/name}}", "comments_url": f"{api}/comments",
        "events_url": f"{api}/events",
        "html_url": f"{links.web}/{full_name}/{kind}/{rec['number']}",
        "id": rec["id"], "node_id": f"I_kwDO{rec['id']}", "number": rec["number"],
        "title": rec["title"], "user": user(links, st, rec["user"]),
        "labels": [label(links, st, full_name, n) for n in rec["labels"]],
        "state": rec["state"], "state_reason": "completed" if rec["state"] == "closed" else None,
        "locked": False,
        "assignee": user(links, st, rec["assignees"][0]) if rec["assignees"] else None,
        "assignees": [user(links, st, a) for a in rec["assignees"]], "milestone": None,
        "comments": len(rec["comments"]), "created_at": iso(rec["created_at"]),
        "updated_at": iso(rec["updated_at"]), "closed_at": iso(rec["closed_at"]),
        "author_association": "MEMBER" if rec["user"] in st.users else "NONE",
        "active_lock_reason": None, "body": rec["body"],
    }  # fmt: skip
    if rec["is_pull"]:
        pr = f"{links.web}/{full_name}/pull/{rec['number']}"
        out["pull_request"] = {"url": f"{links.api}/repos/{full_name}/pulls/{rec['number']}",
                               "html_url": pr, "diff_url": f"{pr}.diff", "patch_url": f"{pr}.patch",
                               "merged_at": None}  # fmt: skip
    return out


def comment(links: Links, st: GithubState, full_name: str, number: int, rec: Record) -> Json:
    """Issue comment object."""
    return {
        "id": rec["id"], "node_id": f"IC_{rec['id']}",
        "url": f"{links.api}/repos/{full_name}/issues/comments/{rec['id']}",
        "html_url": f"{links.web}/{full_name}/issues/{number}#issuecomment-{rec['id']}",
        "issue_url": f"{links.api}/repos/{full_name}/issues/{number}", "body": rec["body"],
        "user": user(links, st, rec["user"]), "created_at": iso(rec["created_at"]),
        "updated_at": iso(rec["created_at"]), "author_association": "MEMBER",
    }  # fmt: skip


def commit(links: Links, st: GithubState, full_name: str, c: Record, detail: bool) -> Json:
    """Commit object; ``detail`` adds ``stats`` and ``files`` like ``GET .../commits/{sha}``."""
    api, web = f"{links.api}/repos/{full_name}", f"{links.web}/{full_name}"
    chain = st.commits[full_name]
    idx = next(i for i, x in enumerate(chain) if x["sha"] == c["sha"])
    parents = [chain[idx + 1]["sha"]] if idx + 1 < len(chain) else []
    person = {"name": c["name"], "email": c["email"], "date": iso(c["date"])}
    out: Json = {
        "sha": c["sha"], "node_id": f"C_{c['sha'][:12]}",
        "commit": {"author": person, "committer": person, "message": c["message"],
                   "tree": {"sha": c["sha"][::-1], "url": f"{api}/git/trees/{c['sha'][::-1]}"},
                   "url": f"{api}/git/commits/{c['sha']}", "comment_count": 0,
                   "verification": {"verified": False, "reason": "unsigned", "signature": None,
                                    "payload": None}},
        "url": f"{api}/commits/{c['sha']}", "html_url": f"{web}/commit/{c['sha']}",
        "comments_url": f"{api}/commits/{c['sha']}/comments",
        "author": user(links, st, c["author"]), "committer": user(links, st, c["author"]),
        "parents": [{"sha": p, "url": f"{api}/commits/{p}", "html_url": f"{web}/commit/{p}"}
                    for p in parents],
    }  # fmt: skip
    if detail:
        adds = sum(f["additions"] for f in c["files"])
        dels = sum(f["deletions"] for f in c["files"])
        out["stats"] = {"total": adds + dels, "additions": adds, "deletions": dels}
        out["files"] = [pr_file(links, full_name, c["sha"], f) for f in c["files"]]
    return out


def pr_file(links: Links, full_name: str, ref: str, f: Record) -> Json:
    """Changed-file object of a PR or commit."""
    return {
        "sha": f["sha"], "filename": f["filename"], "status": f["status"],
        "additions": f["additions"], "deletions": f["deletions"],
        "changes": f["additions"] + f["deletions"],
        "blob_url": f"{links.web}/{full_name}/blob/{ref}/{f['filename']}",
        "raw_url": f"{links.web}/{full_name}/raw/{ref}/{f['filename']}",
        "contents_url": f"{links.api}/repos/{full_name}/contents/{f['filename']}?ref={ref}",
        "patch": f["patch"],
    }  # fmt: skip


def pull(links: Links, st: GithubState, full_name: str, number: int, detail: bool) -> Json:
    """Pull request; ``detail`` adds the counters only ``GET .../pulls/{n}`` returns."""
    rec, pr = st.issues[full_name][number], st.pulls[full_name][number]
    api, web = f"{links.api}/repos/{full_name}", f"{links.web}/{full_name}/pull/{number}"
    base_repo = repo(links, st, full_name)
    owner = st.repos[full_name]["owner"]
    merged_at = iso(rec["closed_at"]) if pr["merged"] else None

    def part(ref: str, sha: str) -> Json:
        return {"label": f"{owner}:{ref}", "ref": ref, "sha": sha,
                "user": user(links, st, owner), "repo": base_repo}  # fmt: skip

    out: Json = {
        "url": f"{api}/pulls/{number}", "id": rec["id"], "node_id": f"PR_{rec['id']}",
        "html_url": web, "diff_url": f"{web}.diff", "patch_url": f"{web}.patch",
        "issue_url": f"{api}/issues/{number}", "number": number, "state": rec["state"],
        "locked": False, "title": rec["title"], "user": user(links, st, rec["user"]),
        "body": rec["body"], "created_at": iso(rec["created_at"]),
        "updated_at": iso(rec["updated_at"]), "closed_at": iso(rec["closed_at"]),
        "merged_at": merged_at, "merge_commit_sha": pr["head_sha"] if pr["merged"] else None,
        "assignee": user(links, st, rec["assignees"][0]) if rec["assignees"] else None,
        "assignees": [user(links, st, a) for a in rec["assignees"]],
        "requested_reviewers": [], "requested_teams": [],
        "labels": [label(links, st, full_name, n) for n in rec["labels"]], "milestone": None,
        "draft": False, "commits_url": f"{api}/pulls/{number}/commits",
        "review_comments_url": f"{api}/pulls/{number}/comments",
        "review_comment_url": f"{api}/pulls/comments{{/number}}",
        "comments_url": f"{api}/issues/{number}/comments",
        "statuses_url": f"{api}/statuses/{pr['head_sha']}",
        "head": part(pr["head"], pr["head_sha"]),
        "base": part(pr["base"], st.commits[full_name][0]["sha"]),
        "_links": {"self": {"href": f"{api}/pulls/{number}"}, "html": {"href": web},
                   "issue": {"href": f"{api}/issues/{number}"}},
        "author_association": "MEMBER", "auto_merge": None, "active_lock_reason": None,
    }  # fmt: skip
    if detail:
        files = pr["files"]
        out.update({
            "merged": pr["merged"], "mergeable": None if pr["merged"] else True,
            "rebaseable": not pr["merged"], "mergeable_state": "clean", "merged_by": None,
            "comments": len(rec["comments"]), "review_comments": sum(
                len(r["comments"]) for r in pr["reviews"]), "maintainer_can_modify": False,
            "commits": pr["commits"], "additions": sum(f["additions"] for f in files),
            "deletions": sum(f["deletions"] for f in files), "changed_files": len(files),
        })  # fmt: skip
    return out


def review(links: Links, st: GithubState, full_name: str, number: int, r: Record) -> Json:
    """Pull request review object."""
    web = f"{links.web}/{full_name}/pull/{number}"
    api = f"{links.api}/repos/{full_name}/pulls/{number}"
    return {
        "id": r["id"], "node_id": f"PRR_{r['id']}", "user": user(links, st, r["user"]),
        "body": r["body"], "state": r["state"], "html_url": f"{web}#pullrequestreview-{r['id']}",
        "pull_request_url": api, "author_association": "MEMBER",
        "_links": {"html": {"href": f"{web}#pullrequestreview-{r['id']}"},
                   "pull_request": {"href": api}},
        "submitted_at": iso(r["submitted_at"]), "commit_id": r["commit_id"],
    }  # fmt: skip

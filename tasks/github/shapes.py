"""What GitHub's tools and syncs return: one page of a listing, and each object's
summary (public: the sync kinds shape what they store the same way)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tasks.shared.paging import PageParams, decode_cursor, encode_cursor, page

if TYPE_CHECKING:
    from github import Github
    from github.PaginatedList import PaginatedList


def page_of(
    gh: Github, p: PageParams, listing: Callable[[], PaginatedList[Any]], shape: Any
) -> dict[str, Any]:
    """One page of a PaginatedList; the cursor carries the page number and size.

    The page size must be set before ``listing`` builds anything (PyGithub
    copies it into every object it makes); the client is this thread's own,
    so setting it is safe.
    """
    state = decode_cursor(p.cursor) or {"page": 0, "per_page": p.limit}
    gh.requester.per_page = int(state["per_page"])
    batch = listing().get_page(int(state["page"]))
    more = len(batch) == gh.requester.per_page
    next_cursor = encode_cursor({**state, "page": int(state["page"]) + 1}) if more else None
    return page([shape(item) for item in batch], next_cursor)


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def repo_summary(repo: Any) -> dict[str, Any]:
    return {
        "full_name": repo.full_name,
        "description": repo.description,
        "language": repo.language,
        "stars": repo.stargazers_count,
        "forks": repo.forks_count,
        "topics": repo.topics,
        "url": repo.html_url,
        "updated_at": iso(repo.updated_at),
    }


def commit_summary(commit: Any) -> dict[str, Any]:
    git = commit.commit
    return {
        "sha": commit.sha,
        "message": git.message,
        "author": commit.author.login if commit.author else None,
        "author_name": git.author.name if git.author else None,
        "date": iso(git.author.date if git.author else None),
        "url": commit.html_url,
    }


def issue_summary(issue: Any) -> dict[str, Any]:
    return {
        "number": issue.number,
        "title": issue.title,
        "state": issue.state,
        "labels": [label.name for label in issue.labels],
        "assignees": [user.login for user in issue.assignees],
        "author": issue.user.login if issue.user else None,
        "comments": issue.comments,
        # Not `issue.pull_request`: absent on plain issues, so PyGithub would
        # fetch every issue again to find out. A pull request's page is /pull/N.
        "is_pull_request": "/pull/" in (issue.html_url or ""),
        "created_at": iso(issue.created_at),
        "updated_at": iso(issue.updated_at),
        "url": issue.html_url,
    }


def pull_summary(pull: Any) -> dict[str, Any]:
    return {
        "number": pull.number,
        "title": pull.title,
        "state": pull.state,
        "draft": pull.draft,
        "head": pull.head.ref,
        "base": pull.base.ref,
        "author": pull.user.login if pull.user else None,
        "created_at": iso(pull.created_at),
        "updated_at": iso(pull.updated_at),
        "url": pull.html_url,
    }

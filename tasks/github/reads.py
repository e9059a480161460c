"""GitHub's read tools: repositories, commits, issues, pull requests.

List tools fetch exactly one page (``limit`` items) per call; the cursor carries
the page number and size (tasks.github.shapes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tasks.github.client import READ, SEARCH, given, provider, repository
from tasks.github.params import (
    GetPullRequest,
    GetRepository,
    ListCommits,
    ListIssues,
    ListPullRequests,
    SearchRepositories,
)
from tasks.github.shapes import (
    commit_summary,
    iso,
    issue_summary,
    page_of,
    pull_summary,
    repo_summary,
)

if TYPE_CHECKING:
    from github import Github
    from github.PaginatedList import PaginatedList

PATCH_CHARS = 4000


@provider.tool("github.search_repositories", writes=False, scopes=SEARCH)
def search_repositories(gh: Github, p: SearchRepositories) -> dict[str, Any]:
    """Search repositories (GitHub search syntax), best matches first."""
    found: list[PaginatedList[Any]] = []

    def listing() -> PaginatedList[Any]:
        found.append(gh.search_repositories(p.query, sort=given(p.sort), order=p.order))
        return found[0]

    result = page_of(gh, p, listing, repo_summary)
    return {**result, "total_count": found[0].totalCount}


@provider.tool("github.get_repository", writes=False, scopes=READ)
def get_repository(gh: Github, p: GetRepository) -> dict[str, Any]:
    """One repository's description, default branch, language and counts."""
    repo = repository(gh, p.repo)
    return {
        **repo_summary(repo),
        "default_branch": repo.default_branch,
        "open_issues": repo.open_issues_count,
        "private": repo.private,
        "created_at": iso(repo.created_at),
        "pushed_at": iso(repo.pushed_at),
    }


@provider.tool("github.list_commits", writes=False, scopes=READ)
def list_commits(gh: Github, p: ListCommits) -> dict[str, Any]:
    """Commits of a branch (newest first), optionally by author and time window."""
    return page_of(
        gh,
        p,
        lambda: repository(gh, p.repo).get_commits(
            sha=given(p.sha),
            since=given(p.since),
            until=given(p.until),
            author=given(p.author),
        ),
        commit_summary,
    )


@provider.tool("github.list_issues", writes=False, scopes=READ)
def list_issues(gh: Github, p: ListIssues) -> dict[str, Any]:
    """Issues of a repository (pull requests included, flagged), by state, labels, update time."""
    return page_of(
        gh,
        p,
        lambda: repository(gh, p.repo).get_issues(
            state=p.state, labels=given(p.labels), since=given(p.since)
        ),
        issue_summary,
    )


@provider.tool("github.list_pull_requests", writes=False, scopes=READ)
def list_pull_requests(gh: Github, p: ListPullRequests) -> dict[str, Any]:
    """Pull requests of a repository by state, base and head."""
    return page_of(
        gh,
        p,
        lambda: repository(gh, p.repo).get_pulls(
            state=p.state, base=given(p.base), head=given(p.head)
        ),
        pull_summary,
    )


@provider.tool("github.get_pull_request", writes=False, scopes=READ)
def get_pull_request(gh: Github, p: GetPullRequest) -> dict[str, Any]:
    """One pull request with its stats and changed files (patches cut), for code analysis."""
    pull = repository(gh, p.repo).get_pull(p.number)
    files = []
    if p.files_limit:
        for changed in pull.get_files():
            if len(files) == p.files_limit:
                break
            patch = changed.patch or ""
            files.append(
                {
                    "filename": changed.filename,
                    "status": changed.status,
                    "additions": changed.additions,
                    "deletions": changed.deletions,
                    "changes": changed.changes,
                    "patch": patch[:PATCH_CHARS],
                    "patch_truncated": len(patch) > PATCH_CHARS,
                }
            )
    return {
        **pull_summary(pull),
        "body": pull.body,
        "merged": pull.merged,
        "commits": pull.commits,
        "additions": pull.additions,
        "deletions": pull.deletions,
        "changed_files": pull.changed_files,
        "files": files,
        "files_truncated": len(files) < pull.changed_files,
    }

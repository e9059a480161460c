"""GitHub tools through PyGithub: repositories, commits, issues, pull requests, reviews.

The client is built from ``GITHUB_TOKEN`` / ``GITHUB_API_URL`` with PyGithub's
own retries and inter-request sleeps off: waiting is the fleet's job. List
tools fetch exactly one page (``limit`` items) per call; the cursor carries
the page number and size.

The three writes that create something (issue, comment, review) end its body
with a hidden ``<!-- toolfleet:<run id> -->`` line. After an ambiguous failure
the retry first lists recent items and looks for that line
(worker.tools.reconcile); nothing here reads ``GET /user``, which a GitHub App
installation token may not, so every tool works for an App too.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tasks.github import DECLARATION
from tasks.shared.clients import per_thread, require
from tasks.shared.paging import PageParams, decode_cursor, encode_cursor, page
from tasks.shared.segments import NAME_SEGMENT, segments
from worker.errors import (
    BadParams,
    RateLimited,
    ToolError,
    Unavailable,
    internal,
    parse_retry_after,
    status_error,
)
from worker.settings import Settings
from worker.tools.catalog import Provider
from worker.tools.params import params_config
from worker.tools.reconcile import MARK, lookup_since, run_mark
from worker.tools.sdk import lazy

if TYPE_CHECKING:
    from github import Github
    from github.PaginatedList import PaginatedList
    from github.Repository import Repository

# Loaded by Provider.connect, not by reading the catalog (worker.tools.sdk).
github = lazy("github")
requests = lazy("requests")

# Owner and name, each one path segment: never "." or ".." (``/repos/../user`` would
# go out as ``GET /user``), no "/", "%", "?", "#" (tasks.shared.segments).
REPO_PATTERN = rf"^{NAME_SEGMENT}/{NAME_SEGMENT}$"
SECONDARY_LIMIT_WAIT = 60.0  # GitHub: without retry-after, wait at least a minute
PATCH_CHARS = 4000
# A hidden line in what a write leaves (issue, comment and review bodies): the run
# that wrote it, so a retry after a lost response finds exactly its own write.
MARKER = f"<!-- {MARK}:{{run_id}} -->"
# GitHub refuses bodies over 65,536 characters: leave room for "\n\n" + the marker.
BODY_MAX = 65_536 - 100
RECONCILE_PAGE = 100  # items per page read by a reconcile (GitHub's maximum)
RECONCILE_SCAN = 300  # items a reconcile reads at most (three pages)
# Rate scopes (worker.tools.governor): the core budget, content creation, search.
READ = ["github:{credential}"]
WRITE = ["github:{credential}", "github-write:{credential}"]
SEARCH = ["github:{credential}", "github-search:{credential}"]


@per_thread
def make_client(settings: Settings, credential: str) -> Github:
    require(settings.github_token, "GITHUB_TOKEN", credential)
    assert settings.github_token is not None
    return github.Github(
        auth=github.Auth.Token(settings.github_token.get_secret_value()),
        base_url=settings.github_api_url.rstrip("/"),
        # PyGithub insists on whole seconds; round up so 0.5 s does not become 0.
        timeout=math.ceil(settings.provider_timeout_seconds),
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
        lazy=True,  # objects load on first use: no GET of a repo just to list its issues
    )


def repository(gh: Github, repo: str) -> Repository:
    """The repository ``"owner/name"``, each part checked and quoted as one path segment
    (PyGithub joins it into ``/repos/...`` as given). Lazy: no request until it is used."""
    return gh.get_repo(segments(repo, 2))


def given(value: Any) -> Any:
    """``value``, or PyGithub's ``NotSet`` when it is empty (the parameter is left out)."""
    return value or github.GithubObject.NotSet


def map_error(exc: Exception) -> ToolError:
    """PyGithub and requests failures → the taxonomy (the one GitHub mapper)."""
    if isinstance(exc, requests.Timeout | requests.ConnectionError):
        return Unavailable(f"GitHub unreachable: {type(exc).__name__}")
    if not isinstance(exc, github.GithubException):
        return internal(exc, step="the call", before_call=False)
    headers = {k.lower(): str(v) for k, v in (exc.headers or {}).items()}
    data = exc.data if isinstance(exc.data, dict) else {}
    message = str(data.get("message") or exc.data or "no message")
    details = {"request_id": headers.get("x-github-request-id")}
    rate_limited = isinstance(exc, github.RateLimitExceededException) or (
        exc.status in (403, 429)
        and (headers.get("x-ratelimit-remaining") == "0" or "retry-after" in headers)
    )
    if rate_limited:
        details["retry_after"] = _rate_limit_wait(headers)
        return RateLimited(
            f"GitHub {exc.status}: {message}", details | {"provider_status": exc.status}
        )
    if exc.status == 422 and data.get("errors"):
        message = f"{message}: {_validation_errors(data['errors'])}"
    return status_error(exc.status, f"GitHub {exc.status}: {message}", **details)


def _rate_limit_wait(headers: dict[str, str]) -> float:
    retry_after = parse_retry_after(headers.get("retry-after"))
    if retry_after is not None:
        return retry_after
    reset = parse_retry_after(headers.get("x-ratelimit-reset"))  # a unix time, if a number
    if headers.get("x-ratelimit-remaining") == "0" and reset is not None:
        return max(1.0, reset - time.time())
    return SECONDARY_LIMIT_WAIT


def _validation_errors(errors: list[Any]) -> str:
    parts = []
    for err in errors[:5]:
        if isinstance(err, dict):
            parts.append(f"{err.get('field', '?')} {err.get('code', 'invalid')}")
        else:
            parts.append(str(err))
    return "; ".join(parts)


def rate_headers(gh: Github) -> dict[str, str]:
    """The rate-limit headers of the client's last response, for the governor.

    Read from what PyGithub kept of that response, never through
    ``Github.rate_limiting``, which asks ``GET /rate_limit`` when no response carried
    the headers (GitHub Enterprise Server with rate limiting disabled answers that
    with a 404, a proxy may strip them). Cleared once read: each call reports only
    what its own responses said."""
    requester = gh.requester
    (remaining, limit), reset = requester.rate_limiting, requester.rate_limiting_resettime
    requester.rate_limiting, requester.rate_limiting_resettime = (-1, -1), 0
    if limit < 0:
        return {}
    return {
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-reset": str(reset),
    }


# What a token's prefix says it is (GitHub documents these prefixes).
TOKEN_KINDS = {
    "ghp_": "personal access token",
    "github_pat_": "fine-grained personal access token",
    "ghs_": "GitHub App installation token",
    "gho_": "OAuth token",
    "ghu_": "GitHub App user token",
}


def probe(gh: Github, settings: Settings) -> dict[str, Any]:
    """One ``GET /rate_limit``, for `fleet doctor`. Never ``GET /user``: an App
    installation token may not read it, so who the fleet acts as is the token's kind.
    GitHub Enterprise Server with rate limiting disabled answers it 404: reachable,
    and no limits to report."""
    token = settings.github_token.get_secret_value() if settings.github_token else ""
    kind = next((k for p, k in TOKEN_KINDS.items() if token.startswith(p)), "token")
    acts_as = f"a {kind} at {settings.github_api_url}"
    try:
        overview = gh.get_rate_limit()
    except github.GithubException as exc:
        if exc.status != 404:
            raise
        return {"acts_as": acts_as, "limits": {"rate limiting": "not enabled on this server"}}
    limits = {}
    for name in ("core", "search", "graphql"):
        rate = getattr(overview.resources, name, None)
        if rate is None:  # a resource this API does not report
            continue
        reset = max(0, int(rate.reset.timestamp() - time.time()))
        limits[name] = f"{rate.remaining}/{rate.limit} left, resets in {reset}s"
    return {"acts_as": acts_as, "limits": limits}


provider = Provider(
    DECLARATION, client=make_client, map_error=map_error, rate_headers=rate_headers, probe=probe
)


# ---- params ---------------------------------------------------------------


class RepoParams(BaseModel):
    repo: str = Field(pattern=REPO_PATTERN, description='The repository, "owner/name".')


class SearchRepositories(PageParams):
    query: str = Field(min_length=1, max_length=256, description="GitHub search syntax.")
    sort: Literal["stars", "forks", "updated"] | None = None
    order: Literal["asc", "desc"] = "desc"
    model_config = params_config({"query": "language:python celery", "sort": "stars", "limit": 10})


class GetRepository(RepoParams):
    model_config = params_config({"repo": "octo/hello"})


class ListCommits(RepoParams, PageParams):
    sha: str | None = Field(default=None, max_length=255, description="Branch, tag or SHA.")
    since: datetime | None = None
    until: datetime | None = None
    author: str | None = Field(default=None, max_length=255, description="Login or email.")
    model_config = params_config({"repo": "octo/hello", "since": "2024-01-01T00:00:00Z"})


class ListIssues(RepoParams, PageParams):
    state: Literal["open", "closed", "all"] = "open"
    labels: list[str] = Field(default_factory=list, max_length=20)
    since: datetime | None = Field(default=None, description="Only issues updated since.")
    model_config = params_config({"repo": "octo/hello", "state": "open", "labels": ["bug"]})


class CreateIssue(RepoParams):
    title: str = Field(min_length=1, max_length=256)
    body: str = Field(default="", max_length=BODY_MAX)
    labels: list[str] = Field(default_factory=list, max_length=20)
    assignees: list[str] = Field(default_factory=list, max_length=10)
    model_config = params_config(
        {"repo": "octo/hello", "title": "Crash on start", "labels": ["bug"]}
    )


class CommentOnIssue(RepoParams):
    number: int = Field(ge=1, description="Issue or pull request number.")
    body: str = Field(min_length=1, max_length=BODY_MAX)
    model_config = params_config({"repo": "octo/hello", "number": 1, "body": "Reproduced on main."})


class ListPullRequests(RepoParams, PageParams):
    state: Literal["open", "closed", "all"] = "open"
    base: str | None = Field(default=None, max_length=255)
    head: str | None = Field(default=None, max_length=255, description='"user:branch".')
    model_config = params_config({"repo": "octo/hello", "state": "open"})


class GetPullRequest(RepoParams):
    number: int = Field(ge=1)
    files_limit: int = Field(default=100, ge=0, le=300, description="Changed files to include.")
    model_config = params_config({"repo": "octo/hello", "number": 8})


class ReviewComment(BaseModel):
    path: str = Field(min_length=1, max_length=1024)
    body: str = Field(min_length=1, max_length=65_536)
    line: int | None = Field(default=None, ge=1, description="Line in the new file.")
    position: int | None = Field(default=None, ge=1, description="Line in the diff (legacy).")
    side: Literal["LEFT", "RIGHT"] | None = None
    model_config = ConfigDict(extra="forbid")


class CreatePrReview(RepoParams):
    number: int = Field(ge=1)
    body: str = Field(default="", max_length=BODY_MAX)
    event: Literal["COMMENT", "APPROVE", "REQUEST_CHANGES"] = "COMMENT"
    comments: list[ReviewComment] = Field(default_factory=list, max_length=50)
    model_config = params_config(
        {"repo": "octo/hello", "number": 8, "body": "Looks good", "event": "APPROVE"}
    )


# ---- tools ----------------------------------------------------------------


@provider.tool("github.search_repositories", writes=False, scopes=SEARCH)
def search_repositories(gh: Github, p: SearchRepositories) -> dict[str, Any]:
    """Search repositories (GitHub search syntax), best matches first."""
    found: list[PaginatedList[Any]] = []

    def listing() -> PaginatedList[Any]:
        found.append(gh.search_repositories(p.query, sort=given(p.sort), order=p.order))
        return found[0]

    result = _page(gh, p, listing, _repo_summary)
    return {**result, "total_count": found[0].totalCount}


@provider.tool("github.get_repository", writes=False, scopes=READ)
def get_repository(gh: Github, p: GetRepository) -> dict[str, Any]:
    """One repository's description, default branch, language and counts."""
    repo = repository(gh, p.repo)
    return {
        **_repo_summary(repo),
        "default_branch": repo.default_branch,
        "open_issues": repo.open_issues_count,
        "private": repo.private,
        "created_at": _iso(repo.created_at),
        "pushed_at": _iso(repo.pushed_at),
    }


@provider.tool("github.list_commits", writes=False, scopes=READ)
def list_commits(gh: Github, p: ListCommits) -> dict[str, Any]:
    """Commits of a branch (newest first), optionally by author and time window."""
    return _page(
        gh,
        p,
        lambda: repository(gh, p.repo).get_commits(
            sha=given(p.sha),
            since=given(p.since),
            until=given(p.until),
            author=given(p.author),
        ),
        _commit_summary,
    )


@provider.tool("github.list_issues", writes=False, scopes=READ)
def list_issues(gh: Github, p: ListIssues) -> dict[str, Any]:
    """Issues of a repository (pull requests included, flagged), by state, labels, update time."""
    return _page(
        gh,
        p,
        lambda: repository(gh, p.repo).get_issues(
            state=p.state, labels=given(p.labels), since=given(p.since)
        ),
        _issue_summary,
    )


def _marked(body: str) -> str:
    """``body`` with this run's hidden marker line (how a reconcile finds our write)."""
    marker = MARKER.format(run_id=run_mark())
    return f"{body}\n\n{marker}" if body else marker


def _ours(body: str | None) -> bool:
    return MARKER.format(run_id=run_mark()) in (body or "")


def _find_marked(gh: Github, listing: Callable[[], PaginatedList[Any]]) -> Any | None:
    """The first item of ``listing`` whose body carries this run's marker, reading at
    most RECONCILE_SCAN items in full pages (whatever page size a list tool left on this
    thread's client, which PyGithub copies into every listing it builds)."""
    gh.requester.per_page = RECONCILE_PAGE
    for item in itertools.islice(listing(), RECONCILE_SCAN):
        if _ours(item.body):
            return item
    return None


def _created_issue(gh: Github, p: CreateIssue, since: datetime) -> dict[str, Any] | None:
    """The issue an earlier attempt of this run opened, found by its marker among the
    repository's issues touched since the run began (any state, newest first)."""
    found = _find_marked(
        gh,
        lambda: repository(gh, p.repo).get_issues(state="all", since=lookup_since(since)),
    )
    return _issue_summary(found) if found else None


@provider.tool("github.create_issue", writes=True, scopes=WRITE, reconcile=_created_issue)
def create_issue(gh: Github, p: CreateIssue) -> dict[str, Any]:
    """Open an issue with a title, body, labels and assignees."""
    issue = repository(gh, p.repo).create_issue(
        title=p.title, body=_marked(p.body), labels=p.labels, assignees=p.assignees
    )
    return _issue_summary(issue)


def _posted_comment(gh: Github, p: CommentOnIssue, since: datetime) -> dict[str, Any] | None:
    """The comment an earlier attempt of this run posted, found by its marker among the
    issue's comments updated since the run began."""
    after = lookup_since(since)
    found = _find_marked(
        gh, lambda: repository(gh, p.repo).get_issue(p.number).get_comments(since=after)
    )
    return _comment_result(p.number, found) if found else None


@provider.tool("github.comment_on_issue", writes=True, scopes=WRITE, reconcile=_posted_comment)
def comment_on_issue(gh: Github, p: CommentOnIssue) -> dict[str, Any]:
    """Comment on an issue or pull request."""
    issue = repository(gh, p.repo).get_issue(p.number)
    return _comment_result(p.number, issue.create_comment(_marked(p.body)))


def _comment_result(number: int, comment: Any) -> dict[str, Any]:
    return {
        "id": comment.id,
        "number": number,
        "url": comment.html_url,
        "created_at": _iso(comment.created_at),
    }


@provider.tool("github.list_pull_requests", writes=False, scopes=READ)
def list_pull_requests(gh: Github, p: ListPullRequests) -> dict[str, Any]:
    """Pull requests of a repository by state, base and head."""
    return _page(
        gh,
        p,
        lambda: repository(gh, p.repo).get_pulls(
            state=p.state, base=given(p.base), head=given(p.head)
        ),
        _pull_summary,
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
        **_pull_summary(pull),
        "body": pull.body,
        "merged": pull.merged,
        "commits": pull.commits,
        "additions": pull.additions,
        "deletions": pull.deletions,
        "changed_files": pull.changed_files,
        "files": files,
        "files_truncated": len(files) < pull.changed_files,
    }


def _posted_review(gh: Github, p: CreatePrReview, since: datetime) -> dict[str, Any] | None:
    """The review an earlier attempt of this run submitted, found by its marker (GitHub
    lists a pull request's reviews oldest first and has no ``since`` for them: a pull
    request with more than RECONCILE_SCAN reviews is not searched to its end)."""
    found = _find_marked(gh, lambda: repository(gh, p.repo).get_pull(p.number).get_reviews())
    return _review_result(p, found) if found else None


@provider.tool("github.create_pr_review", writes=True, scopes=WRITE, reconcile=_posted_review)
def create_pr_review(gh: Github, p: CreatePrReview) -> dict[str, Any]:
    """Review a pull request: comment, approve or request changes, with line comments."""
    if p.event == "REQUEST_CHANGES" and not p.body:
        raise BadParams("a REQUEST_CHANGES review needs a body")
    # Checked here: GitHub would accept the marker alone as the body of an empty review.
    if p.event == "COMMENT" and not p.body and not p.comments:
        raise BadParams("a COMMENT review needs a body or line comments")
    pull = repository(gh, p.repo).get_pull(p.number)
    comments = [c.model_dump(exclude_none=True) for c in p.comments]
    review = pull.create_review(body=_marked(p.body), event=p.event, comments=given(comments))
    return _review_result(p, review)


def _review_result(p: CreatePrReview, review: Any) -> dict[str, Any]:
    return {
        "id": review.id,
        "number": p.number,
        "state": review.state,
        "url": review.html_url,
        "comments": len(p.comments),
    }


# ---- shaping ----------------------------------------------------------------


def _page(
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


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _repo_summary(repo: Any) -> dict[str, Any]:
    return {
        "full_name": repo.full_name,
        "description": repo.description,
        "language": repo.language,
        "stars": repo.stargazers_count,
        "forks": repo.forks_count,
        "topics": repo.topics,
        "url": repo.html_url,
        "updated_at": _iso(repo.updated_at),
    }


def _commit_summary(commit: Any) -> dict[str, Any]:
    git = commit.commit
    return {
        "sha": commit.sha,
        "message": git.message,
        "author": commit.author.login if commit.author else None,
        "author_name": git.author.name if git.author else None,
        "date": _iso(git.author.date if git.author else None),
        "url": commit.html_url,
    }


def _issue_summary(issue: Any) -> dict[str, Any]:
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
        "created_at": _iso(issue.created_at),
        "updated_at": _iso(issue.updated_at),
        "url": issue.html_url,
    }


def _pull_summary(pull: Any) -> dict[str, Any]:
    return {
        "number": pull.number,
        "title": pull.title,
        "state": pull.state,
        "draft": pull.draft,
        "head": pull.head.ref,
        "base": pull.base.ref,
        "author": pull.user.login if pull.user else None,
        "created_at": _iso(pull.created_at),
        "updated_at": _iso(pull.updated_at),
        "url": pull.html_url,
    }

"""GitHub's write tools, each beside its reconcile lookup: issues, comments, reviews.

The three writes that create something (issue, comment, review) end its body
with a hidden ``<!-- toolfleet:<run id> -->`` line. After an ambiguous failure
the retry first lists recent items and looks for that line
(worker.runtime.reconcile).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tasks.github.client import WRITE, given, provider, repository
from tasks.github.params import CommentOnIssue, CreateIssue, CreatePrReview
from tasks.github.shapes import iso, issue_summary
from worker.errors import BadParams
from worker.runtime.reconcile import MARK, lookup_since, run_mark

if TYPE_CHECKING:
    from github import Github
    from github.PaginatedList import PaginatedList

# A hidden line in what a write leaves (issue, comment and review bodies): the run
# that wrote it, so a retry after a lost response finds exactly its own write.
MARKER = f"<!-- {MARK}:{{run_id}} -->"
RECONCILE_PAGE = 100  # items per page read by a reconcile (GitHub's maximum)
RECONCILE_SCAN = 300  # items a reconcile reads at most (three pages)


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
    return issue_summary(found) if found else None


@provider.tool("github.create_issue", writes=True, scopes=WRITE, reconcile=_created_issue)
def create_issue(gh: Github, p: CreateIssue) -> dict[str, Any]:
    """Open an issue with a title, body, labels and assignees."""
    issue = repository(gh, p.repo).create_issue(
        title=p.title, body=_marked(p.body), labels=p.labels, assignees=p.assignees
    )
    return issue_summary(issue)


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
        "created_at": iso(comment.created_at),
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

"""GitHub sync kinds: what changed in a repository since the cursor (see worker.syncs).

``github.issues`` reads issues and pull requests by update time
(``since=``, oldest change first). Pages are keyed by time, not by number:
each page asks again from the newest update it saw, so an issue edited
while the run goes on moves forward instead of shifting every later page
(and being skipped); the issue at the boundary is read twice and written
once (its content is unchanged). Closing is an update like any other.

``github.commits`` reads a branch's commits since the cursor (commit date),
newest first, page by page: commits pushed during the run push later pages
down, so some are read twice (and written once), none skipped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from tasks.github.client import READ, given, provider, repository
from tasks.github.params import REPO_PATTERN
from tasks.github.shapes import issue_summary
from worker.syncs.kinds import Item, Page, rewind_iso, sync_kind

if TYPE_CHECKING:
    from github import Github

PER_PAGE = 100


class IssuesSync(BaseModel):
    """A ``github.issues`` sync's own fields."""

    repo: str = Field(pattern=REPO_PATTERN, description='The repository, "owner/name".')
    model_config = ConfigDict(extra="forbid")


@sync_kind(provider, "github.issues", scopes=READ, rewind=rewind_iso, target=lambda c: c.repo)
def issues_changed(gh: Github, config: IssuesSync, since: str | None, token: Any) -> Page:
    """Issues and pull requests of a repository changed since the cursor."""
    after = token["since"] if token else since
    number = token["page"] if token else 0
    gh.requester.per_page = PER_PAGE
    listing = repository(gh, config.repo).get_issues(
        state="all", sort="updated", direction="asc", since=given(after and _moment(after))
    )
    batch = listing.get_page(number)
    items = [_item(config.repo, issue) for issue in batch]
    newest = max((i.updated_at for i in items if i.updated_at), default=None)
    if len(batch) < PER_PAGE:
        return Page(items, None, newest)
    if newest == after:  # a whole page within one second: page on by number
        return Page(items, {"since": after, "page": number + 1}, newest)
    return Page(items, {"since": newest, "page": 0}, newest)


class CommitsSync(BaseModel):
    """A ``github.commits`` sync's own fields."""

    repo: str = Field(pattern=REPO_PATTERN, description='The repository, "owner/name".')
    branch: str | None = Field(default=None, max_length=255, description="Default: the default.")
    model_config = ConfigDict(extra="forbid")


@sync_kind(
    provider,
    "github.commits",
    scopes=READ,
    rewind=rewind_iso,
    target=lambda c: f"{c.repo}@{c.branch or 'default'}",
)
def commits_since(gh: Github, config: CommitsSync, since: str | None, token: Any) -> Page:
    """A branch's commits since the cursor."""
    number = token or 0
    gh.requester.per_page = PER_PAGE
    listing = repository(gh, config.repo).get_commits(
        sha=given(config.branch), since=given(since and _moment(since))
    )
    batch = listing.get_page(number)
    items = [_commit_item(config.repo, commit) for commit in batch]
    newest = max((i.updated_at for i in items if i.updated_at), default=None)
    return Page(items, number + 1 if len(batch) == PER_PAGE else None, newest)


def _commit_item(repo: str, commit: Any) -> Item:
    git = commit.commit
    when = git.committer.date if git.committer else (git.author.date if git.author else None)
    payload = {
        "sha": commit.sha,
        "repo": repo,
        "message": git.message,
        "author": commit.author.login if commit.author else None,
        "author_name": git.author.name if git.author else None,
        "date": _stamp(when) if when else None,
        "url": commit.html_url,
    }
    return Item(f"{repo}@{commit.sha}", payload["date"], payload)


def _item(repo: str, issue: Any) -> Item:
    payload = {**issue_summary(issue), "body": issue.body, "repo": repo}
    return Item(f"{repo}#{issue.number}", _stamp(issue.updated_at), payload)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _moment(cursor: str) -> datetime:
    return datetime.fromisoformat(cursor.replace("Z", "+00:00"))

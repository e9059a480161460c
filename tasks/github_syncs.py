"""GitHub sync kinds: what changed in a repository since the cursor (see worker.syncs).

``github.issues`` reads issues and pull requests by update time
(``since=``, oldest change first). Pages are keyed by time, not by number:
each page asks again from the newest update it saw, so an issue edited
while the run goes on moves forward instead of shifting every later page
(and being skipped); the issue at the boundary is read twice and written
once (its content is unchanged). Closing is an update like any other.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from github import Github
from github.GithubObject import NotSet
from pydantic import BaseModel, ConfigDict, Field

from tasks.github import READ, REPO_PATTERN, _issue_summary, provider
from worker.syncs.kinds import Item, Page, rewind_iso, sync_kind

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
    listing = gh.get_repo(config.repo).get_issues(
        state="all", sort="updated", direction="asc", since=_moment(after) if after else NotSet
    )
    batch = listing.get_page(number)
    items = [_item(config.repo, issue) for issue in batch]
    newest = max((i.updated_at for i in items if i.updated_at), default=None)
    if len(batch) < PER_PAGE:
        return Page(items, None, newest)
    if newest == after:  # a whole page within one second: page on by number
        return Page(items, {"since": after, "page": number + 1}, newest)
    return Page(items, {"since": newest, "page": 0}, newest)


def _item(repo: str, issue: Any) -> Item:
    payload = {**_issue_summary(issue), "body": issue.body, "repo": repo}
    updated = issue.updated_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Item(external_id=f"{repo}#{issue.number}", updated_at=updated, payload=payload)


def _moment(cursor: str) -> datetime:
    return datetime.fromisoformat(cursor.replace("Z", "+00:00"))

"""The params of GitHub's tools."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tasks.shared.paging import PageParams
from tasks.shared.segments import NAME_SEGMENT
from worker.runtime.params import params_config

# Owner and name, each one path segment: never "." or ".." (``/repos/../user`` would
# go out as ``GET /user``), no "/", "%", "?", "#" (tasks.shared.segments).
REPO_PATTERN = rf"^{NAME_SEGMENT}/{NAME_SEGMENT}$"
# GitHub refuses bodies over 65,536 characters: leave room for "\n\n" + the marker.
BODY_MAX = 65_536 - 100


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

"""The params of Jira's tools."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from tasks.shared.paging import PageParams
from worker.runtime.params import params_config

if TYPE_CHECKING:
    pass


# Keys become path segments (``issue/<key>/comment``): letters, digits and "_" only,
# so never "..", "/" or "%" (tasks.shared.segments quotes them as well).
PROJECT_KEY = r"^[A-Z][A-Z0-9_]+$"
ISSUE_KEY = r"^[A-Z][A-Z0-9_]+-[1-9][0-9]*$"
# Filter values: one line, no control characters (quoting then only needs \ and ").
Value = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f]+$")]
Label = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^\s\x00-\x1f]+$")
]
ProjectKey = Annotated[str, Field(pattern=PROJECT_KEY, description='Project key, e.g. "DEMO".')]
IssueKey = Annotated[str, Field(pattern=ISSUE_KEY, description='Issue key, e.g. "DEMO-1".')]


class ListProjects(PageParams):
    model_config = params_config({"limit": 50})


class FindProject(BaseModel):
    name: str = Field(min_length=1, max_length=255, description="Project name (or key).")
    model_config = params_config({"name": "demo"})


class SearchIssues(PageParams):
    jql: str | None = Field(
        default=None, min_length=1, max_length=4000, description="Raw JQL (instead of filters)."
    )
    project: ProjectKey | None = None
    status: Value | None = Field(default=None, description='Status name, e.g. "In Progress".')
    assignee: Value | None = Field(default=None, description="Username, email or account id.")
    labels: list[Label] = Field(default_factory=list, max_length=10, description="All of these.")
    text: Value | None = Field(default=None, description="Words in the summary or description.")
    updated_since: datetime | None = Field(default=None, description="UTC unless zoned.")
    order_by: Literal["updated", "created", "priority", "key", "status"] | None = Field(
        default=None, description="Sort field (default updated); ties broken by key."
    )
    order: Literal["asc", "desc"] = Field(default="desc", description="Sort direction.")
    model_config = params_config({"project": "DEMO", "status": "To Do", "labels": ["api"]})

    @model_validator(mode="after")
    def _jql_or_filters(self) -> SearchIssues:
        filters = {"project", "status", "assignee", "labels", "text", "updated_since"}
        filters |= {"order_by", "order"}
        if self.jql is not None and self.model_fields_set & filters:
            raise ValueError("give either jql or structured filters, not both")
        return self


class CreateIssue(BaseModel):
    project: ProjectKey
    summary: str = Field(
        min_length=1, max_length=255, pattern=r"^[^\r\n]+$", description="One line."
    )
    description: str = Field(default="", max_length=32_767, description="Body (wiki markup).")
    issue_type: str = Field(default="Task", min_length=1, max_length=64, description="Type name.")
    priority: str | None = Field(
        default=None, min_length=1, max_length=64, description='Priority name, e.g. "High".'
    )
    labels: list[Label] = Field(default_factory=list, max_length=20, description="No spaces.")
    components: list[Value] = Field(
        default_factory=list, max_length=20, description="Component names of the project."
    )
    model_config = params_config(
        {"project": "DEMO", "summary": "Login fails", "issue_type": "Bug", "labels": ["api"]}
    )


class AddComment(BaseModel):
    issue: IssueKey
    body: str = Field(min_length=1, max_length=32_767, description="Comment (wiki markup).")
    model_config = params_config({"issue": "DEMO-1", "body": "Reproduced on staging."})


class TransitionIssue(BaseModel):
    issue: IssueKey
    transition: Value = Field(description='Transition name, e.g. "Start Progress" (any case).')
    model_config = params_config({"issue": "DEMO-1", "transition": "Start Progress"})


class ListUsers(PageParams):
    query: Value = Field(description="Part of a username, display name or email.")
    model_config = params_config({"query": "alice"})

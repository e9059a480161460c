"""Jira tools through the ``jira`` library: projects, issue search, create, comment, transition.

The client is built from ``JIRA_BASE_URL`` / ``JIRA_USERNAME`` / ``JIRA_API_TOKEN``
(basic auth) with the library's ResilientSession retries off, so it never
sleeps in a worker: waiting is the fleet's job. Structured search filters
become JQL through :func:`build_jql`, which quotes every value as one JQL
string literal; a raw ``jql`` is passed as is. List tools fetch one page per
call; the cursor carries ``startAt`` (or Jira Cloud's ``nextPageToken``).

``jira.create_issue`` and ``jira.add_comment`` give what they create a
``toolfleet`` entity property ``{"run_id": ...}`` (posted through the library's
session: its own methods cannot send properties). After an ambiguous failure
the retry looks for that property before writing again (worker.tools.reconcile).
"""

from __future__ import annotations

import difflib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from tasks.jira import DECLARATION
from tasks.shared.clients import per_thread, require
from tasks.shared.paging import PageParams, decode_cursor, encode_cursor, page
from tasks.shared.segments import segment
from worker.errors import BadParams, Fatal, NotFound, ToolError, Unavailable, internal, status_error
from worker.errors import parse_retry_after as retry_after_of
from worker.settings import Settings
from worker.tools.catalog import Provider
from worker.tools.context import current_call
from worker.tools.params import params_config
from worker.tools.reconcile import MARK
from worker.tools.sdk import lazy

if TYPE_CHECKING:
    from jira import JIRA

# Loaded by Provider.connect, not by reading the catalog (worker.tools.sdk).
jira_sdk = lazy("jira")
requests = lazy("requests")

# Keys become path segments (``issue/<key>/comment``): letters, digits and "_" only,
# so never "..", "/" or "%" (tasks.shared.segments quotes them as well).
PROJECT_KEY = r"^[A-Z][A-Z0-9_]+$"
ISSUE_KEY = r"^[A-Z][A-Z0-9_]+-[1-9][0-9]*$"
ERROR_CHARS = 300
RECONCILE_SCAN = 50
MARKER_PROPERTY = MARK  # entity property on what a write creates: {"run_id": ...}
# One rate scope per credential (see the declaration's limits).
READ = WRITE = ["jira:{credential}"]
LIMITS = DECLARATION.limits
SEARCH_FIELDS = ("summary", "status", "assignee", "priority", "labels", "updated", "issuetype")
# Filter values: one line, no control characters (quoting then only needs \ and ").
Value = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f]+$")]
Label = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^\s\x00-\x1f]+$")
]


@per_thread
def make_client(settings: Settings, credential: str) -> JIRA:
    require(settings.jira_base_url, "JIRA_BASE_URL", credential)
    require(settings.jira_username, "JIRA_USERNAME", credential)
    require(settings.jira_api_token, "JIRA_API_TOKEN", credential)
    assert settings.jira_api_token is not None
    return jira_sdk.JIRA(
        server=str(settings.jira_base_url),
        basic_auth=(str(settings.jira_username), settings.jira_api_token.get_secret_value()),
        max_retries=0,  # ResilientSession would sleep up to 60 s on 429/503 inside the worker
        timeout=settings.provider_timeout_seconds,
        get_server_info=True,  # deploymentType decides /search (Server) vs /search/jql (Cloud)
    )


def map_error(exc: Exception) -> ToolError:
    """``JIRAError`` and requests failures → the taxonomy (the one Jira mapper).

    Never ``str(exc)``: a JIRAError's text includes request and response headers.
    """
    # Dropped connections, timeouts and bodies cut mid-way: the provider, not the call, failed.
    network = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
    if isinstance(exc, network):
        return Unavailable(f"Jira unreachable: {type(exc).__name__}")
    if not isinstance(exc, jira_sdk.JIRAError):
        return internal(exc, step="the call", before_call=False)
    response = exc.response
    if exc.status_code is None or response is None:
        return Fatal(f"Jira: {' '.join(str(exc.text or 'no details').split())[:ERROR_CHARS]}")
    status = exc.status_code
    retry_after = None
    if status in (429, 503):
        retry_after = retry_after_of(response.headers.get("Retry-After"))
    return status_error(
        status,
        f"Jira {status}: {_error_summary(response)}",
        request_id=response.headers.get("X-AREQUESTID"),
        retry_after=retry_after,
    )


def _error_summary(response: Any) -> str:
    """Jira's ``errorMessages`` and ``errors`` as one short line (never the raw body)."""
    try:
        data = response.json()
    except ValueError:
        data = None
    parts: list[str] = []
    if isinstance(data, dict):
        parts += [str(m) for m in data.get("errorMessages") or []]
        errors = data.get("errors")
        if isinstance(errors, dict):
            parts += [f"{field}: {message}" for field, message in errors.items()]
        if not parts and data.get("message"):
            parts.append(str(data["message"]))
    text = " ".join("; ".join(parts).split()) or response.reason or "no details"
    return text[:ERROR_CHARS]


def probe(client: JIRA, settings: Settings) -> dict[str, Any]:
    """One ``GET /myself``, for `fleet doctor`; Jira reports no budget to a plain call."""
    me = client.myself()
    account = me.get("accountId") or me.get("name") or me.get("key")
    email = f", {me['emailAddress']}" if me.get("emailAddress") else ""
    return {
        "acts_as": f"{me.get('displayName')} ({account}{email}) at {settings.jira_base_url}",
        "limits": {kind: ", ".join(texts) for kind, texts in LIMITS.items()},
    }


provider = Provider(DECLARATION, client=make_client, map_error=map_error, probe=probe)


# ---- JQL ------------------------------------------------------------------------


def jql_string(value: str) -> str:
    """``value`` as one JQL string literal: in double quotes, ``\\`` and ``"`` escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_jql(p: SearchIssues, now: datetime | None = None) -> str:
    """The JQL for structured filters. Field names are fixed here; values are only ever
    quoted literals. ``updated_since`` becomes a relative period in minutes (rounded up,
    so the window is never narrower), which Jira reads the same in any user's timezone."""
    clauses = []
    if p.project:
        clauses.append(f"project = {jql_string(p.project)}")
    if p.status:
        clauses.append(f"status = {jql_string(p.status)}")
    if p.assignee:
        clauses.append(f"assignee = {jql_string(p.assignee)}")
    clauses += [f"labels = {jql_string(label)}" for label in p.labels]
    if p.text:
        text = jql_string(p.text)
        clauses.append(f"(summary ~ {text} OR description ~ {text})")
    if p.updated_since:
        since = p.updated_since if p.updated_since.tzinfo else p.updated_since.replace(tzinfo=UTC)
        seconds = ((now or datetime.now(UTC)) - since).total_seconds()
        minutes = -(-seconds // 60)  # ceil
        clauses.append(f'updated >= "{"-" if minutes >= 0 else "+"}{abs(int(minutes))}m"')
    order = f"ORDER BY {p.order_by or 'updated'} {p.order.upper()}"
    if p.order_by != "key":
        order += ", key ASC"  # a total order, so startAt pages neither skip nor repeat
    return " AND ".join(clauses) + (" " if clauses else "") + order


# ---- params ---------------------------------------------------------------------


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


# ---- tools ----------------------------------------------------------------------


@provider.tool("jira.list_projects", writes=False, scopes=READ)
def list_projects(jira: JIRA, p: ListProjects) -> dict[str, Any]:
    """Projects visible to the account: key, name, id, lead."""
    start = _start(p.cursor)
    projects = jira.projects(expand="lead")  # Jira's /project is not paged: slice it here
    batch = projects[start : start + p.limit]
    more = start + p.limit < len(projects)
    return page([_project(x) for x in batch], _next(start + p.limit) if more else None)


@provider.tool("jira.find_project", writes=False, scopes=READ)
def find_project(jira: JIRA, p: FindProject) -> dict[str, Any]:
    """Find a project by name or key: exact (any case) first, else the one name containing it."""
    projects = jira.projects(expand="lead")
    wanted = p.name.casefold()
    exact = [x for x in projects if wanted in (x.name.casefold(), x.key.casefold())]
    partial = [x for x in projects if wanted in x.name.casefold()]
    if exact or len(partial) == 1:
        return _project((exact or partial)[0])
    names = [x.name for x in projects]
    if partial:
        raise BadParams(
            f"{p.name!r} matches several projects: {', '.join(x.name for x in partial)}"
        )
    close = difflib.get_close_matches(p.name, names, n=5, cutoff=0.4) or names[:10]
    raise NotFound(f"no project named {p.name!r}; close: {', '.join(close) or 'none'}")


@provider.tool("jira.search_issues", writes=False, scopes=READ)
def search_issues(jira: JIRA, p: SearchIssues) -> dict[str, Any]:
    """Search issues with raw JQL or structured filters (quoted safely); the JQL run is returned."""
    jql = p.jql if p.jql is not None else build_jql(p)
    state = decode_cursor(p.cursor) or {}
    fields = list(SEARCH_FIELDS)  # the library rewrites this list in place
    if jira.deploymentType == "Cloud":  # Cloud's /search/jql pages by token, without a total
        found = jira.enhanced_search_issues(
            jql,
            nextPageToken=state.get("token"),
            maxResults=p.limit,
            fields=fields,
            json_result=True,
        )
        token, total = found.get("nextPageToken"), None
        next_cursor = encode_cursor({"token": token}) if token and not found.get("isLast") else None
    else:
        start = _start(p.cursor)
        found = jira.search_issues(
            jql, startAt=start, maxResults=p.limit, fields=fields, json_result=True
        )
        total = int(found.get("total") or 0)
        end = start + len(found.get("issues") or [])
        next_cursor = _next(end) if found.get("issues") and end < total else None
    items = [_issue(raw) for raw in found.get("issues") or []]
    return {**page(items, next_cursor), "total": total, "jql": jql}


def _issue_ref(jira: JIRA, issue: Any) -> dict[str, Any]:
    return {"key": issue.key, "id": issue.id, "url": f"{jira.server_url}/browse/{issue.key}"}


def _marker() -> dict[str, Any]:
    """The entity property naming this run (how a reconcile finds our write)."""
    return {"key": MARKER_PROPERTY, "value": {"run_id": current_call().run_id}}


def _created_issue(jira: JIRA, p: CreateIssue, since: datetime) -> dict[str, Any] | None:
    """The issue an earlier attempt of this run created: among the project's issues
    created since the run began (newest first), one with this summary whose property
    names this run. The summary is compared here, not in JQL: ``summary ~`` is a fuzzy
    text search in which characters such as ``-`` or ``[`` mean something."""
    minutes = int((datetime.now(UTC) - since).total_seconds() // 60) + 2  # + clock slack
    jql = f'project = {jql_string(p.project)} AND created >= "-{minutes}m" ORDER BY created DESC'
    for issue in jira.search_issues(jql, maxResults=RECONCILE_SCAN, fields="summary"):
        if issue.fields.summary == p.summary and _marked_by_us(jira, issue.key):
            return _issue_ref(jira, issue)
    return None


def _marked_by_us(jira: JIRA, key: str) -> bool:
    # ``key`` comes from Jira's own search results: quoted all the same.
    url = jira._get_url(f"issue/{segment(key)}/properties/{MARKER_PROPERTY}")
    try:
        found = jira._session.get(url).json()
    except jira_sdk.JIRAError as exc:
        if exc.status_code == 404:  # no marker: not written by a run of this fleet
            return False
        raise
    return (found.get("value") or {}).get("run_id") == current_call().run_id


@provider.tool("jira.create_issue", writes=True, scopes=WRITE, reconcile=_created_issue)
def create_issue(jira: JIRA, p: CreateIssue) -> dict[str, Any]:
    """Create an issue in a project (type, priority, labels, components by name)."""
    # By key and by name: one POST, no project or issue-type lookups by the library.
    fields: dict[str, Any] = {
        "project": {"key": p.project},
        "summary": p.summary,
        "issuetype": {"name": p.issue_type},
    }
    if p.description:
        fields["description"] = p.description
    if p.priority:
        fields["priority"] = {"name": p.priority}
    if p.labels:
        fields["labels"] = p.labels
    if p.components:
        fields["components"] = [{"name": name} for name in p.components]
    # The library's create_issue cannot send entity properties: post the payload
    # through its session (same auth, same JIRAError on failure).
    payload = {"fields": fields, "properties": [_marker()]}
    created = jira._session.post(jira._get_url("issue"), data=json.dumps(payload)).json()
    return {
        "key": created["key"],
        "id": created["id"],
        "url": f"{jira.server_url}/browse/{created['key']}",
    }


def _added_comment(jira: JIRA, p: AddComment, since: datetime) -> dict[str, Any] | None:
    """The comment an earlier attempt of this run added, found by its property among
    the issue's newest RECONCILE_SCAN comments."""
    url = jira._get_url(f"issue/{segment(p.issue)}/comment")
    query = {"expand": "properties", "orderBy": "-created", "maxResults": RECONCILE_SCAN}
    found = jira._session.get(url, params=query).json()
    for comment in found.get("comments") or []:
        marks = {prop.get("key"): prop.get("value") for prop in comment.get("properties") or []}
        if (marks.get(MARKER_PROPERTY) or {}).get("run_id") == current_call().run_id:
            return {"issue": p.issue, "id": comment["id"], "created": comment.get("created")}
    return None


@provider.tool("jira.add_comment", writes=True, scopes=WRITE, reconcile=_added_comment)
def add_comment(jira: JIRA, p: AddComment) -> dict[str, Any]:
    """Comment on an issue."""
    payload = {"body": p.body, "properties": [_marker()]}
    url = jira._get_url(f"issue/{segment(p.issue)}/comment")
    comment = jira._session.post(url, data=json.dumps(payload)).json()
    return {"issue": p.issue, "id": comment["id"], "created": comment.get("created")}


@provider.tool("jira.transition_issue", writes=True, scopes=WRITE)
def transition_issue(jira: JIRA, p: TransitionIssue) -> dict[str, Any]:
    """Move an issue through its workflow by transition name (any case); returns the new status."""
    key = segment(p.issue)  # the library joins it into issue/<key>/transitions unquoted
    available = jira.transitions(key)
    wanted = p.transition.casefold()
    move = next((t for t in available if t["name"].casefold() == wanted), None)
    if move is None:
        names = ", ".join(t["name"] for t in available) or "none"
        raise BadParams(f"{p.issue} has no transition {p.transition!r}; available: {names}")
    jira.transition_issue(key, str(move["id"]))
    # The transition's target, not a re-read: a failed read after a done transition
    # would retry the transition itself, which is no longer available.
    return {"issue": p.issue, "transition": move["name"], "status": move["to"]["name"]}


@provider.tool("jira.list_users", writes=False, scopes=READ)
def list_users(jira: JIRA, p: ListUsers) -> dict[str, Any]:
    """Active users matching a name, display name or email."""
    start = _start(p.cursor)
    by = {"query": p.query} if jira.deploymentType == "Cloud" else {"user": p.query}
    # One extra row tells whether another page exists (the endpoint gives no total).
    found = jira.search_users(startAt=start, maxResults=p.limit + 1, **by)
    users = [_user(u.raw) for u in found[: p.limit]]
    return page(users, _next(start + p.limit) if len(found) > p.limit else None)


# ---- shaping --------------------------------------------------------------------


def _start(cursor: str | None) -> int:
    start = (decode_cursor(cursor) or {}).get("start", 0)
    if not isinstance(start, int) or start < 0:
        raise BadParams("cursor is not a cursor this tool returned")
    return start


def _next(start: int) -> str:
    return encode_cursor({"start": start})


def _project(project: Any) -> dict[str, Any]:
    shaped = {"key": project.key, "name": project.name, "id": project.id}
    lead = project.raw.get("lead")
    if lead:
        shaped["lead"] = lead.get("displayName") or lead.get("name")
    return shaped


def _user(raw: dict[str, Any] | None) -> dict[str, Any]:
    raw = raw or {}
    return {
        "name": raw.get("name"),
        "account_id": raw.get("accountId"),
        "display_name": raw.get("displayName"),
        "email": raw.get("emailAddress"),
        "active": raw.get("active"),
    }


def _issue(raw: dict[str, Any]) -> dict[str, Any]:
    fields = raw.get("fields") or {}
    assignee = fields.get("assignee") or {}
    return {
        "key": raw["key"],
        "id": raw["id"],
        "summary": fields.get("summary"),
        "status": (fields.get("status") or {}).get("name"),
        "assignee": assignee.get("name") or assignee.get("accountId"),
        "priority": (fields.get("priority") or {}).get("name"),
        "labels": fields.get("labels") or [],
        "updated": fields.get("updated"),
        "issue_type": (fields.get("issuetype") or {}).get("name"),
    }

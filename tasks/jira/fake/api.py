"""Fake Jira Server REST API v2 under ``/jira/rest/api/2`` (``latest`` is accepted too).

Models what the ``jira`` library calls: ``serverInfo`` (reports ``deploymentType: Server`` so
``search_issues`` uses ``/search`` with ``startAt``/``maxResults``/``total``), ``field``,
projects, issues, comments, entity properties of issues and comments (``toolfleet`` markers
among them), workflow transitions and user search. Cloud's token-paged
``/search/jql`` is served as well. Errors use Jira's ``{"errorMessages": [...], "errors": {}}``.
Issue writes (create/edit/comment/transition) live in ``writes``.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Callable
from http import HTTPStatus

from simulator.faults import Fault, retry_after_header
from simulator.protocol import Request, Response, json_response
from simulator.state import Record, SimState, utcnow
from tasks.jira.fake import render
from tasks.jira.fake.jql import JqlError
from tasks.jira.fake.jql_eval import search
from tasks.jira.fake.writes import WRITE_ROUTES as JIRA_WRITES
from tasks.jira.fake.writes import JiraCtx, JiraError, find_issue

Handler = Callable[[JiraCtx], Response]
ISSUE = r"/issue/(?P<key>[^/]+)"
NOT_AUTHENTICATED = "You are not authenticated. Authentication required to perform this operation."


def _server_info(ctx: JiraCtx) -> Response:
    return json_response(200, render.server_info(ctx.req.root + "/jira", utcnow(), ctx.deployment))


def _myself(ctx: JiraCtx) -> Response:
    return json_response(200, render.user(ctx.api, ctx.st, ctx.st.myself))


def _fields(ctx: JiraCtx) -> Response:
    return json_response(200, render.fields())


def _issue_types(ctx: JiraCtx) -> Response:
    return json_response(200, [render.issue_type(ctx.api, ctx.st, n) for n in ctx.st.issue_types])


def _priorities(ctx: JiraCtx) -> Response:
    return json_response(200, [render.priority(ctx.api, ctx.st, n) for n in ctx.st.priorities])


def _statuses(ctx: JiraCtx) -> Response:
    return json_response(200, [render.status(ctx.api, ctx.st, n) for n in ctx.st.statuses])


def _projects(ctx: JiraCtx) -> Response:
    return json_response(200, [render.project(ctx.api, ctx.st, k) for k in ctx.st.projects])


def _project(ctx: JiraCtx) -> Response:
    ref = ctx.args["key"]
    for key, p in ctx.st.projects.items():
        if ref.upper() == key or ref == p["id"]:
            return json_response(200, render.project(ctx.api, ctx.st, key, full=True))
    raise JiraError(404, [f"No project could be found with key '{ref}'."])


def _field_list(ctx: JiraCtx) -> list[str] | None:
    raw = ctx.req.query.get("fields") or ctx.req.json_body.get("fields")
    if raw is None:
        return None
    items = raw if isinstance(raw, list) else [raw]
    return [f.strip() for item in items for f in str(item).split(",") if f.strip()]


def _param(ctx: JiraCtx, name: str, default: str | None = None) -> str | None:
    value = ctx.req.json_body.get(name) if ctx.req.method == "POST" else ctx.req.arg(name)
    return default if value is None else str(value)


def _int_param(ctx: JiraCtx, name: str, default: int) -> int:
    raw = _param(ctx, name)
    if raw is None:
        return default
    if not re.fullmatch(r"-?\d+", raw):
        raise JiraError(400, [f"The value '{raw}' is not valid for the '{name}' parameter."])
    return int(raw)


def _run_jql(ctx: JiraCtx) -> list[Record]:
    try:
        return search(ctx.st, _param(ctx, "jql", "") or "")
    except JqlError as err:
        raise JiraError(400, [str(err)]) from err


def _search(ctx: JiraCtx) -> Response:
    start = max(_int_param(ctx, "startAt", 0), 0)
    limit = min(max(_int_param(ctx, "maxResults", 50), 0), 1000)
    hits, fields = _run_jql(ctx), _field_list(ctx)
    page = [render.issue(ctx.api, ctx.st, i, fields) for i in hits[start : start + limit]]
    return json_response(
        200,
        {
            "expand": "names,schema",
            "startAt": start,
            "maxResults": limit,
            "total": len(hits),
            "issues": page,
        },
    )


def _search_jql(ctx: JiraCtx) -> Response:
    """Cloud's enhanced search: no ``total``, opaque ``nextPageToken``, ids only by default."""
    token = _param(ctx, "nextPageToken")
    try:
        start = int(base64.b64decode(token, validate=True)) if token else 0
    except (binascii.Error, ValueError) as exc:
        raise JiraError(400, ["Invalid nextPageToken."]) from exc
    limit = min(max(_int_param(ctx, "maxResults", 50), 1), 5000)
    hits, fields = _run_jql(ctx), _field_list(ctx) or ["id"]
    page = [render.issue(ctx.api, ctx.st, i, fields) for i in hits[start : start + limit]]
    body: Record = {"issues": page, "isLast": start + limit >= len(hits)}
    if not body["isLast"]:
        body["nextPageToken"] = base64.b64encode(str(start + limit).encode()).decode()
    return json_response(200, body)


def _issue(ctx: JiraCtx) -> Response:
    i = find_issue(ctx)
    return json_response(200, render.issue(ctx.api, ctx.st, i, _field_list(ctx)))


def _comments(ctx: JiraCtx) -> Response:
    """One page of an issue's comments: ``startAt``/``maxResults``, ``orderBy`` ``created``
    (oldest first, the default) or ``-created``, ``expand=properties`` adds their properties."""
    i = find_issue(ctx)
    order = ctx.req.arg("orderBy") or "created"
    if order.lstrip("+-") != "created":
        raise JiraError(400, [f"The orderBy value '{order}' is not supported."])
    ordered = list(reversed(i["comments"])) if order.startswith("-") else list(i["comments"])
    start = max(_int_param(ctx, "startAt", 0), 0)
    limit = min(max(_int_param(ctx, "maxResults", 5000), 0), 5000)
    expand = "properties" in (ctx.req.arg("expand") or "").split(",")
    items = [
        render.comment(ctx.api, ctx.st, i["id"], c)
        | ({"properties": _rendered_properties(c)} if expand else {})
        for c in ordered[start : start + limit]
    ]
    return json_response(
        200, {"startAt": start, "maxResults": limit, "total": len(ordered), "comments": items}
    )


def _rendered_properties(entity: Record) -> list[Record]:
    return [{"key": k, "value": v} for k, v in (entity.get("properties") or {}).items()]


def _issue_property(ctx: JiraCtx) -> Response:
    return _property(find_issue(ctx), ctx.args["prop"])


def _comment_property(ctx: JiraCtx) -> Response:
    wanted = ctx.args["id"]
    for issue in ctx.st.issues.values():
        for c in issue["comments"]:
            if c["id"] == wanted:
                return _property(c, ctx.args["prop"])
    raise JiraError(404, [f"Can not find a comment for the id: {wanted}."])


def _property(entity: Record, name: str) -> Response:
    properties = entity.get("properties") or {}
    if name not in properties:
        raise JiraError(404, [f"The property with key '{name}' does not exist."])
    return json_response(200, {"key": name, "value": properties[name]})


def _transitions(ctx: JiraCtx) -> Response:
    i, only = find_issue(ctx), ctx.req.arg("transitionId")
    usable = [t for t in ctx.st.transitions if i["status"] in t["from"] and only in (None, t["id"])]
    rendered = [render.transition(ctx.api, ctx.st, t) for t in usable]
    return json_response(200, {"expand": "transitions", "transitions": rendered})


def _user_search(ctx: JiraCtx) -> Response:
    needle = (ctx.req.arg("username") or ctx.req.arg("query") or "").lower()
    if not needle:
        raise JiraError(400, ["The username query parameter was not provided"])
    start = max(ctx.req.int_arg("startAt", 0), 0)
    limit = min(max(ctx.req.int_arg("maxResults", 50), 1), 1000)
    hits = [
        n
        for n, u in ctx.st.users.items()
        if needle == "." or any(needle in f.lower() for f in (n, u["email"], u["display"]))
    ]
    page = [render.user(ctx.api, ctx.st, n) for n in hits[start : start + limit]]
    return json_response(200, page)


def _user(ctx: JiraCtx) -> Response:
    name = ctx.req.arg("username") or ctx.req.arg("key") or ctx.req.arg("accountId") or ""
    for n, u in ctx.st.users.items():
        if name.lower() in (n, u["account_id"]):
            return json_response(200, render.user(ctx.api, ctx.st, n))
    raise JiraError(404, [f"The user named '{name}' does not exist"])


ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    (m, re.compile(r"/rest/api/(?:2|latest)" + p + "/?"), h)
    for m, p, h in [
        ("GET", r"/serverInfo", _server_info),
        ("GET", r"/myself", _myself),
        ("GET", r"/field", _fields),
        ("GET", r"/issuetype", _issue_types),
        ("GET", r"/priority", _priorities),
        ("GET", r"/status", _statuses),
        ("GET", r"/project", _projects),
        ("GET", r"/project/(?P<key>[^/]+)", _project),
        ("GET", r"/search", _search),
        ("POST", r"/search", _search),
        ("GET", r"/search/jql", _search_jql),
        ("POST", r"/search/jql", _search_jql),
        ("GET", ISSUE, _issue),
        ("GET", ISSUE + r"/comment", _comments),
        ("GET", ISSUE + r"/properties/(?P<prop>[^/]+)", _issue_property),
        ("GET", r"/comment/(?P<id>\d+)/properties/(?P<prop>[^/]+)", _comment_property),
        ("GET", ISSUE + r"/transitions", _transitions),
        ("GET", r"/user/search", _user_search),
        ("GET", r"/user", _user),
        *JIRA_WRITES,
    ]
]


class JiraApi:
    """Jira provider: ``handle`` answers a REST v2 request against :class:`JiraState`."""

    provider = "jira"

    def __init__(self, user: str, token: str, deployment: str = "Server") -> None:
        if deployment not in ("Server", "Cloud"):
            raise ValueError("jira deployment must be 'Server' or 'Cloud'")
        basic = base64.b64encode(f"{user}:{token}".encode()).decode()
        self._accepted = {f"basic {basic}".lower(), f"bearer {token}".lower()}
        self._deployment = deployment

    def authenticate(self, req: Request) -> bool:
        header = " ".join(req.headers.get("authorization", "").split())
        return header.lower() in self._accepted

    def unauthorized(self, req: Request) -> Response:
        return json_response(
            401,
            {"errorMessages": [NOT_AUTHENTICATED], "errors": {}},
            {
                "WWW-Authenticate": 'Basic realm="protected-area"',
                "X-Seraph-LoginReason": "AUTHENTICATED_FAILED",
            },
        )

    def fault_response(self, fault: Fault, req: Request, st: SimState) -> Response:
        if fault.unauthorized:
            return self.unauthorized(req)
        status = 429 if fault.rate_limit else (fault.status or 500)
        headers = dict(fault.headers)
        if status == 429 or fault.retry_after is not None:
            retry = fault.retry_after if fault.retry_after is not None else 1
            headers.setdefault("Retry-After", retry_after_header(retry))
        if fault.body is not None:
            return json_response(status, fault.body, headers)
        message = "Rate limit exceeded." if status == 429 else HTTPStatus(status).phrase
        return json_response(status, {"errorMessages": [message], "errors": {}}, headers)

    def handle(self, req: Request, st: SimState) -> Response:
        ctx = JiraCtx(req, st.jira, f"{req.root}/jira/rest/api/2", self._deployment)
        for method, pattern, handler in ROUTES:
            match = pattern.fullmatch(req.path)
            if match and method == req.method:
                ctx.args = match.groupdict()
                try:
                    return handler(ctx)
                except JiraError as err:
                    return json_response(
                        err.status, {"errorMessages": err.messages, "errors": err.errors}
                    )
        return json_response(404, {"errorMessages": ["null for uri: " + req.path], "errors": {}})

    def finish(self, req: Request, resp: Response, st: SimState) -> None:
        resp.default_header("X-AREQUESTID", uuid.uuid4().hex[:12])
        if resp.status != 401:
            resp.default_header("X-AUSERNAME", st.jira.myself)

"""Fake Jira issue writes: create, edit, comment, transition (plus shared lookup helpers).

Issues and comments may carry entity ``properties`` at creation, as Jira REST v2 accepts.

Field validation collects every problem into Jira's ``errors`` map (HTTP 400), e.g.
``{"summary": "You must specify a summary of the issue."}``, so callers see all mistakes at
once as on a real instance. Edits accept both ``fields`` and the ``update`` verb form
(add/remove/set). Reaching "Done" sets a resolution; leaving it clears it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from simulator.protocol import Request, Response, json_response
from simulator.state import Record, utcnow
from tasks.jira.fake import render
from tasks.jira.fake.seed import add_jira_issue
from tasks.jira.fake.state import JiraState

ISSUE = r"/issue/(?P<key>[^/]+)"
PROPERTY_KEY_CHARS = 255


class JiraError(Exception):
    """Raised by handlers; rendered as ``{"errorMessages": [...], "errors": {...}}``."""

    def __init__(
        self, status: int, messages: list[str], errors: dict[str, str] | None = None
    ) -> None:
        super().__init__("; ".join(messages) or str(errors))
        self.status, self.messages, self.errors = status, messages, errors or {}


@dataclass
class JiraCtx:
    """Per-request handler context; ``api`` is the REST base for ``self`` links."""

    req: Request
    st: JiraState
    api: str
    deployment: str = "Server"
    args: dict[str, str] = field(default_factory=dict)


def find_issue(ctx: JiraCtx) -> Record:
    """Issue by key (case-insensitive) or numeric id, else Jira's 404."""
    ref = ctx.args["key"]
    found = ctx.st.issues.get(ref.upper()) or next(
        (i for i in ctx.st.issues.values() if i["id"] == ref), None
    )
    if found is None:
        raise JiraError(404, ["Issue does not exist or you do not have permission to see it."])
    return found


def _body(ctx: JiraCtx) -> dict[str, Any]:
    if ctx.req.body_error or not isinstance(ctx.req.body, dict):
        raise JiraError(400, ["No content to map to Object due to end of input"])
    return ctx.req.body


class _Invalid(ValueError):
    """One field's validation message."""


def _named(table: dict[str, Record], ref: Any, what: str) -> str:
    """Resolve ``{"name": ...}`` / ``{"id": ...}`` / plain-string references into ``table``."""
    ref = ref if isinstance(ref, dict) else {"name": ref}
    for name, facts in table.items():
        if ref.get("name") == name or (ref.get("id") is not None and str(ref["id"]) == facts["id"]):
            return name
    raise _Invalid(what.format(ref.get("name", ref.get("id"))))


def _project(st: JiraState, ref: Any, target: Record) -> str:
    ref = ref if isinstance(ref, dict) else {"key": ref} if ref else {}
    for key, p in st.projects.items():
        if ref.get("key") == key or str(ref.get("id")) == p["id"]:
            return key
    raise _Invalid("valid project is required" if ref else "project is required")


def _summary(st: JiraState, value: Any, target: Record) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid("You must specify a summary of the issue.")
    if len(value) > 255:
        raise _Invalid("Summary must be less than 255 characters.")
    return value


def _labels(st: JiraState, value: Any, target: Record) -> list[str]:
    for label in value or []:
        if not isinstance(label, str) or not label or " " in label:
            raise _Invalid(f"The label '{label}' contains spaces which is invalid.")
    return list(dict.fromkeys(value or []))


def _person(st: JiraState, ref: Any, target: Record) -> str | None:
    """Username for ``{"name"}`` (Server) / ``{"accountId"}`` (Cloud); None unassigns."""
    if ref is None:
        return None
    wanted = (
        ref.get("name") or ref.get("accountId") or ref.get("key") if isinstance(ref, dict) else ref
    )
    for name, u in st.users.items():
        if wanted in (name, u["account_id"], u["email"]):
            return name
    raise _Invalid(f"User '{wanted}' does not exist.")


def _components(st: JiraState, refs: Any, target: Record) -> list[str]:
    if not target.get("project"):
        return []
    known = {n: {"id": cid} for n, cid in st.projects[target["project"]]["components"].items()}
    return [_named(known, ref, "Component name '{}' is not valid") for ref in refs or []]


# Application order matters: components are checked against the (new) project.
SETTERS: dict[str, Callable[[JiraState, Any, Record], Any]] = {
    "project": _project,
    "issuetype": lambda st, v, _t: _named(st.issue_types, v, "valid issue type is required"),
    "summary": _summary,
    "description": lambda _st, v, _t: v,
    "priority": lambda st, v, _t: _named(st.priorities, v, "Priority name '{}' is not valid"),
    "labels": _labels,
    "assignee": _person,
    "reporter": _person,
    "components": _components,
}
REQUIRED_ON_CREATE = ("project", "issuetype", "summary")


def _apply_fields(st: JiraState, fields: dict[str, Any], target: Record, creating: bool) -> None:
    """Validate and copy ``fields`` into ``target``; all problems raise one 400 together."""
    errors = {
        name: f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
        for name in set(fields) - set(SETTERS)
    }
    for name, setter in SETTERS.items():
        if name in fields or (creating and name in REQUIRED_ON_CREATE):
            try:
                target[name] = setter(st, fields.get(name), target)
            except _Invalid as problem:
                errors[name] = str(problem)
                target[name] = None
    if errors:
        raise JiraError(400, [], errors)


def _apply_update(st: JiraState, update: dict[str, Any], target: Record) -> None:
    """Jira's verb form: ``{"labels": [{"add": "x"}], "comment": [{"add": {"body": ..}}]}``."""
    for name, ops in update.items():
        for op in ops if isinstance(ops, list) else [ops]:
            if not isinstance(op, dict) or len(op) != 1:
                raise JiraError(400, [], {name: "Each operation must be one of add/set/remove."})
            verb, value = next(iter(op.items()))
            if name == "comment" and verb == "add" and isinstance(value, dict):
                target["comments"].append(_new_comment(st, str(value.get("body", "")), utcnow()))
            elif name in ("labels", "components") and verb in ("add", "remove"):
                try:
                    (item,) = SETTERS[name](st, [value], target)
                except _Invalid as problem:
                    raise JiraError(400, [], {name: str(problem)}) from problem
                kept = [x for x in target[name] if x != item]
                target[name] = [*kept, item] if verb == "add" else kept
            elif verb == "set" and name in SETTERS:
                _apply_fields(st, {name: value}, target, creating=False)
            else:
                raise JiraError(400, [], {name: f"Operation '{verb}' is not supported here."})


def _new_comment(st: JiraState, body: str, now: datetime) -> Record:
    st.next_comment_id += 1
    return {"id": str(st.next_comment_id), "author": st.myself, "body": body, "created": now}


def _properties(data: Record) -> dict[str, Any]:
    """Entity properties given at creation: ``[{"key": k, "value": v}, ...]`` (checked
    before anything is written: a refused write leaves nothing behind)."""
    raw = data.get("properties") or []
    if not isinstance(raw, list) or not all(isinstance(p, dict) and "key" in p for p in raw):
        raise JiraError(400, ["properties must be a list of {key, value}"])
    for p in raw:
        if not isinstance(p["key"], str) or not 0 < len(p["key"]) <= PROPERTY_KEY_CHARS:
            raise JiraError(400, [f"The property key must be 1 to {PROPERTY_KEY_CHARS} chars."])
    return {p["key"]: p.get("value") for p in raw}


def _create_issue(ctx: JiraCtx) -> Response:
    fields = _body(ctx).get("fields")
    if not isinstance(fields, dict):
        raise JiraError(400, [], {"project": "project is required"})
    facts: Record = {
        "description": None,
        "priority": "Medium",
        "labels": [],
        "components": [],
        "assignee": None,
        "reporter": ctx.st.myself,
    }
    _apply_fields(ctx.st, fields, facts, creating=True)
    properties, now = _properties(_body(ctx)), utcnow()
    issue = add_jira_issue(ctx.st, {**facts, "status": "To Do", "created": now, "updated": now})
    issue["properties"] = properties
    return json_response(
        201, {"id": issue["id"], "key": issue["key"], "self": f"{ctx.api}/issue/{issue['id']}"}
    )


def _edit_issue(ctx: JiraCtx) -> Response:
    issue, data = find_issue(ctx), _body(ctx)
    staged = {**issue, "comments": list(issue["comments"])}
    _apply_fields(ctx.st, dict(data.get("fields") or {}), staged, creating=False)
    _apply_update(ctx.st, dict(data.get("update") or {}), staged)
    issue.update(staged, updated=utcnow())
    return Response(204)


def _add_comment(ctx: JiraCtx) -> Response:
    issue, body = find_issue(ctx), _body(ctx).get("body")
    if not isinstance(body, str) or not body.strip():
        raise JiraError(400, [], {"comment": "Comment body can not be empty!"})
    properties = _properties(_body(ctx))
    c = _new_comment(ctx.st, body, utcnow())
    c["properties"] = properties
    issue["comments"].append(c)
    issue["updated"] = c["created"]
    return json_response(201, render.comment(ctx.api, ctx.st, issue["id"], c))


def _do_transition(ctx: JiraCtx) -> Response:
    issue, data = find_issue(ctx), _body(ctx)
    wanted = str((data.get("transition") or {}).get("id", ""))
    if not wanted:
        raise JiraError(400, ["Missing 'transition' identifier"])
    move = next(
        (t for t in ctx.st.transitions if t["id"] == wanted and issue["status"] in t["from"]), None
    )
    if move is None:
        raise JiraError(400, [f"Transition id '{wanted}' is not valid for this issue."])
    fields = dict(data.get("fields") or {})
    resolution = fields.pop("resolution", None)
    staged = {**issue, "comments": list(issue["comments"])}
    _apply_fields(ctx.st, fields, staged, creating=False)
    _apply_update(ctx.st, dict(data.get("update") or {}), staged)
    now, done = utcnow(), move["to"] == "Done"
    name = (resolution or {}).get("name") or "Done"
    staged.update(
        status=move["to"],
        updated=now,
        resolved=now if done else None,
        resolution=name if done else None,
    )
    issue.update(staged)
    return Response(204)


WRITE_ROUTES: list[tuple[str, str, Callable[[JiraCtx], Response]]] = [
    ("POST", r"/issue", _create_issue),
    ("PUT", ISSUE, _edit_issue),
    ("POST", ISSUE + r"/comment", _add_comment),
    ("POST", ISSUE + r"/transitions", _do_transition),
]

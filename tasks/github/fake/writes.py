"""Fake GitHub writes: create/edit issues, comment, review pull requests.

Validation mirrors what agents trip over on the real API: 422 "Validation Failed" with an
``errors`` list for a missing title/body or unknown assignee, 422 "Unprocessable Entity"
for review comments on files outside the diff, and 400 for bodies that are not JSON objects.
Unknown labels are created on the fly, as GitHub does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simulator.protocol import Response, json_response
from simulator.state import Record, utcnow
from tasks.github.fake import render
from tasks.github.fake.common import REPO, Ctx, GithubError, repo_name

REVIEW_STATES = {
    "APPROVE": "APPROVED",
    "REQUEST_CHANGES": "CHANGES_REQUESTED",
    "COMMENT": "COMMENTED",
    None: "PENDING",
}


def _body(ctx: Ctx) -> dict[str, Any]:
    if ctx.req.body_error or not isinstance(ctx.req.body, dict):
        raise GithubError(400, "Problems parsing JSON")
    return ctx.req.body


def _missing(resource: str, field: str) -> GithubError:
    problem = {"resource": resource, "code": "missing_field", "field": field}
    return GithubError(422, "Validation Failed", [problem])


def _check_people(ctx: Ctx, logins: list[Any]) -> list[str]:
    for login in logins:
        facts = ctx.st.users.get(login) if isinstance(login, str) else None
        if facts is None or facts["type"] != "User":
            problem = {"value": login, "resource": "Issue", "field": "assignees", "code": "invalid"}
            raise GithubError(422, "Validation Failed", [problem])
    return list(dict.fromkeys(logins))


def _apply_labels(ctx: Ctx, name: str, labels: Any) -> list[str]:
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise GithubError(
            422, "Validation Failed", [{"resource": "Issue", "field": "labels", "code": "invalid"}]
        )
    known = ctx.st.labels[name]
    for label in labels:
        known.setdefault(label, {"id": ctx.st.new_id(), "color": "ededed"})
    return list(dict.fromkeys(labels))


def _create_issue(ctx: Ctx) -> Response:
    name, data = repo_name(ctx), _body(ctx)
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        raise _missing("Issue", "title")
    assignees = list(data.get("assignees") or [])
    if data.get("assignee"):
        assignees.insert(0, data["assignee"])
    now, issues = utcnow(), ctx.st.issues[name]
    rec: Record = {
        "id": ctx.st.new_id(),
        "number": max(issues, default=0) + 1,
        "title": title,
        "body": data.get("body"),
        "labels": _apply_labels(ctx, name, data.get("labels") or []),
        "assignees": _check_people(ctx, assignees),
        "user": ctx.st.viewer,
        "state": "open",
        "created_at": now,
        "updated_at": now,
        "closed_at": None,
        "is_pull": False,
        "comments": [],
    }
    issues[rec["number"]] = rec
    ctx.st.repos[name]["updated_at"] = now
    payload = render.issue(ctx.links, ctx.st, name, rec)
    return json_response(201, payload, {"Location": payload["url"]})


def _issue(ctx: Ctx) -> tuple[str, Record]:
    name = repo_name(ctx)
    rec = ctx.st.issues[name].get(int(ctx.args["number"]))
    if rec is None:
        raise GithubError(404, "Not Found")
    return name, rec


def _edit_issue(ctx: Ctx) -> Response:
    (name, rec), data = _issue(ctx), _body(ctx)
    if "title" in data and not (isinstance(data["title"], str) and data["title"].strip()):
        raise _missing("Issue", "title")
    state = data.get("state", rec["state"])
    if state not in ("open", "closed"):
        raise GithubError(422, "Validation Failed", [{"field": "state", "code": "invalid"}])
    now = utcnow()
    if state != rec["state"]:
        rec["closed_at"] = now if state == "closed" else None
    rec.update(
        state=state,
        updated_at=now,
        title=data.get("title", rec["title"]),
        body=data.get("body", rec["body"]),
    )
    if "labels" in data:
        rec["labels"] = _apply_labels(ctx, name, data["labels"])
    if "assignees" in data:
        rec["assignees"] = _check_people(ctx, list(data["assignees"] or []))
    return json_response(200, render.issue(ctx.links, ctx.st, name, rec))


def _create_comment(ctx: Ctx) -> Response:
    (name, rec), data = _issue(ctx), _body(ctx)
    text = data.get("body")
    if not isinstance(text, str) or not text.strip():
        raise _missing("IssueComment", "body")
    now = utcnow()
    comment = {"id": ctx.st.new_id(), "user": ctx.st.viewer, "body": text, "created_at": now}
    rec["comments"].append(comment)
    rec["updated_at"] = now
    payload = render.comment(ctx.links, ctx.st, name, rec["number"], comment)
    return json_response(201, payload, {"Location": payload["url"]})


def _unprocessable(message: str) -> GithubError:
    return GithubError(422, "Unprocessable Entity", [message])


def _check_review_comment(files: dict[str, Record], c: Any) -> Record:
    if not isinstance(c, dict) or not isinstance(c.get("body"), str) or "path" not in c:
        raise _unprocessable("Review comments need path and body")
    f = files.get(c["path"])
    if f is None:
        raise _unprocessable("Path could not be resolved")
    diff_lines = f["patch"].count("\n")  # lines after the "@@" hunk header
    new_side = f["additions"] + 1  # seeded hunks: one context line plus the additions
    if "position" in c:
        if not isinstance(c["position"], int) or not 1 <= c["position"] <= diff_lines:
            raise _unprocessable("Pull request review thread position is invalid")
    elif "line" in c:
        if not isinstance(c["line"], int) or not 1 <= c["line"] <= new_side:
            raise _unprocessable("Pull request review thread line must be part of the diff")
    else:
        raise _unprocessable("Pull request review thread position or line is required")
    return {k: c[k] for k in ("path", "position", "line", "side", "body") if k in c}


def _create_review(ctx: Ctx) -> Response:
    (name, rec), data = _issue(ctx), _body(ctx)
    pr = ctx.st.pulls[name].get(rec["number"])
    if pr is None:
        raise GithubError(404, "Not Found")
    event, text = data.get("event"), data.get("body") or ""
    if event not in REVIEW_STATES:
        raise _unprocessable(f"Unknown review event {event!r}")
    if event == "APPROVE" and rec["user"] == ctx.st.viewer:
        raise _unprocessable("Can not approve your own pull request")
    comments = data.get("comments") or []
    if event in ("REQUEST_CHANGES", "COMMENT") and not text and not comments:
        raise _unprocessable("Body is required for this review event")
    commit_id = data.get("commit_id") or pr["head_sha"]
    if commit_id != pr["head_sha"]:
        raise _unprocessable("Commit ID is not part of the pull request")
    files = {f["filename"]: f for f in pr["files"]}
    review = {
        "id": ctx.st.new_id(),
        "user": ctx.st.viewer,
        "body": text,
        "commit_id": commit_id,
        "state": REVIEW_STATES[event],
        "submitted_at": utcnow() if event else None,
        "comments": [_check_review_comment(files, c) for c in comments],
    }
    pr["reviews"].append(review)
    rec["updated_at"] = utcnow()
    return json_response(200, render.review(ctx.links, ctx.st, name, rec["number"], review))


WRITE_ROUTES: list[tuple[str, str, Callable[[Ctx], Response]]] = [
    ("POST", REPO + r"/issues", _create_issue),
    ("PATCH", REPO + r"/issues/(?P<number>\d+)", _edit_issue),
    ("POST", REPO + r"/issues/(?P<number>\d+)/comments", _create_comment),
    ("POST", REPO + r"/pulls/(?P<number>\d+)/reviews", _create_review),
]

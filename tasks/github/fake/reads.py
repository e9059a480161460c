"""Fake GitHub REST reads: users, repositories, search, commits, issues, pulls, reviews.

Listing endpoints paginate like GitHub (``per_page`` up to 100, ``page`` from 1, ``Link``
header with next/last/first/prev). Defaults follow the docs: issues and pulls list open items
newest first, and the issues listing includes pull requests (with a ``pull_request`` key).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlencode

from simulator.protocol import Response, json_response
from simulator.state import Record
from tasks.github.fake import render
from tasks.github.fake.common import RATE_LIMITS, REPO, Ctx, GithubError, repo_name

Handler = Callable[[Ctx], Response]


def paginate(ctx: Ctx, items: list[Record], search: bool = False) -> Response:
    """Slice ``items`` by ``page``/``per_page`` and emit GitHub's ``Link`` header.

    Search endpoints wrap the page as ``{"total_count", "incomplete_results", "items"}``.
    """
    req = ctx.req
    per_page = min(max(req.int_arg("per_page", 30), 1), 100)
    page = max(req.int_arg("page", 1), 1)
    last = max(1, math.ceil(len(items) / per_page))
    chunk = items[(page - 1) * per_page : page * per_page]

    def url(n: int) -> str:
        query = {k: v for k, v in req.query.items() if k != "page"} | {"page": [str(n)]}
        return f"{ctx.links.api}{req.path}?{urlencode(query, doseq=True)}"

    rels = []
    if page < last:
        rels += [f'<{url(page + 1)}>; rel="next"', f'<{url(last)}>; rel="last"']
    if page > 1:
        rels += [f'<{url(1)}>; rel="first"', f'<{url(min(page - 1, last))}>; rel="prev"']
    headers = {"Link": ", ".join(rels)} if rels else {}
    if search:
        wrapped = {"total_count": len(items), "incomplete_results": False, "items": chunk}
        return json_response(200, wrapped, headers)
    return json_response(200, chunk, headers)


def _since(ctx: Ctx, name: str) -> datetime | None:
    raw = ctx.req.arg(name)
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise GithubError(422, "Validation Failed", [{"field": name, "code": "invalid"}]) from exc


def _viewer(ctx: Ctx) -> Response:
    if ctx.st.app_installation:  # what an App installation token gets on GET /user
        raise GithubError(403, "Resource not accessible by integration")
    return json_response(200, render.full_user(ctx.links, ctx.st, ctx.st.viewer))


def _user(ctx: Ctx) -> Response:
    login = next((u for u in ctx.st.users if u.lower() == ctx.args["login"].lower()), None)
    if login is None:
        raise GithubError(404, "Not Found")
    return json_response(200, render.full_user(ctx.links, ctx.st, login))


def _repo(ctx: Ctx) -> Response:
    return json_response(200, render.repo(ctx.links, ctx.st, repo_name(ctx)))


def _repo_by_id(ctx: Ctx) -> Response:
    for name, facts in ctx.st.repos.items():
        if str(facts["id"]) == ctx.args["id"]:
            return json_response(200, render.repo(ctx.links, ctx.st, name))
    raise GithubError(404, "Not Found")


def _search_repos(ctx: Ctx) -> Response:
    q = (ctx.req.arg("q") or "").strip()
    if not q:
        problem = {"resource": "Search", "field": "q", "code": "missing"}
        raise GithubError(422, "Validation Failed", [problem])
    hits = []
    for name, r in ctx.st.repos.items():
        ok = True
        for token in q.lower().split():
            key, _, value = token.partition(":")
            if value and key in ("user", "org"):
                ok &= r["owner"].lower() == value
            elif value and key == "repo":
                ok &= name.lower() == value
            elif value and key == "language":
                ok &= r["language"].lower() == value
            elif value and key == "topic":
                ok &= value in r["topics"]
            elif not value:
                ok &= token in f"{name} {r['description']}".lower()
        if ok:
            hits.append(name)
    sort, desc = ctx.req.arg("sort"), ctx.req.arg("order", "desc") != "asc"
    fields = {"stars": "stars", "forks": "forks", "updated": "updated_at"}
    if sort in fields:
        hits.sort(key=lambda n: ctx.st.repos[n][fields[sort]], reverse=desc)
    return paginate(ctx, [render.repo(ctx.links, ctx.st, n, score=1.0) for n in hits], search=True)


def _commit_chain(ctx: Ctx) -> list[Record]:
    chain = ctx.st.commits.get(repo_name(ctx), [])
    if not chain:
        raise GithubError(409, "Git Repository is empty.")
    return chain


def _find_commit(chain: list[Record], ref: str, default_branch: str) -> int:
    if ref in (default_branch, "HEAD"):
        return 0
    for i, c in enumerate(chain):
        if len(ref) >= 7 and c["sha"].startswith(ref.lower()):
            return i
    raise GithubError(422, f"No commit found for SHA: {ref}")


def _commits(ctx: Ctx) -> Response:
    name = repo_name(ctx)
    chain = _commit_chain(ctx)
    start = _find_commit(chain, ctx.req.arg("sha") or "HEAD", ctx.st.repos[name]["default_branch"])
    since, until = _since(ctx, "since"), _since(ctx, "until")
    author, path = (ctx.req.arg("author") or "").lower(), ctx.req.arg("path")
    picked = [
        c
        for c in chain[start:]
        if (since is None or c["date"] >= since)
        and (until is None or c["date"] <= until)
        and (not author or author in ((c["author"] or "").lower(), c["email"].lower()))
        and (not path or any(f["filename"].startswith(path) for f in c["files"]))
    ]
    return paginate(ctx, [render.commit(ctx.links, ctx.st, name, c, False) for c in picked])


def _commit(ctx: Ctx) -> Response:
    name, chain = repo_name(ctx), _commit_chain(ctx)
    c = chain[_find_commit(chain, ctx.args["sha"], ctx.st.repos[name]["default_branch"])]
    return json_response(200, render.commit(ctx.links, ctx.st, name, c, True))


def _issues(ctx: Ctx) -> Response:
    name, req = repo_name(ctx), ctx.req
    state = req.arg("state", "open")
    if state not in ("open", "closed", "all"):
        raise GithubError(422, "Validation Failed", [{"field": "state", "code": "invalid"}])
    labels = {x.strip() for x in (req.arg("labels") or "").split(",") if x.strip()}
    since, assignee, creator = _since(ctx, "since"), req.arg("assignee"), req.arg("creator")
    milestone = req.arg("milestone")
    picked = [
        i
        for i in ctx.st.issues[name].values()
        if state in ("all", i["state"])
        and labels <= set(i["labels"])
        and (since is None or i["updated_at"] >= since)
        and _assignee_ok(assignee, i["assignees"])
        and (creator is None or i["user"] == creator)
        and (milestone in (None, "*", "none"))
    ]
    sort = {"updated": "updated_at", "comments": "comments"}.get(
        req.arg("sort") or "", "created_at"
    )
    picked.sort(
        key=lambda i: len(i[sort]) if sort == "comments" else i[sort],
        reverse=req.arg("direction", "desc") != "asc",
    )
    return paginate(ctx, [render.issue(ctx.links, ctx.st, name, i) for i in picked])


def _assignee_ok(wanted: str | None, assignees: list[str]) -> bool:
    if wanted in (None, "*", "none"):
        return wanted is None or (wanted == "*") == bool(assignees)
    return wanted in assignees


def _issue_rec(ctx: Ctx) -> Record:
    issue = ctx.st.issues[repo_name(ctx)].get(int(ctx.args["number"]))
    if issue is None:
        raise GithubError(404, "Not Found")
    return issue


def _issue(ctx: Ctx) -> Response:
    return json_response(200, render.issue(ctx.links, ctx.st, repo_name(ctx), _issue_rec(ctx)))


def _comments(ctx: Ctx) -> Response:
    name, rec, since = repo_name(ctx), _issue_rec(ctx), _since(ctx, "since")
    picked = [
        c for c in rec["comments"] if since is None or c.get("updated_at", c["created_at"]) >= since
    ]
    out = [render.comment(ctx.links, ctx.st, name, rec["number"], c) for c in picked]
    return paginate(ctx, out)


def _pull_number(ctx: Ctx) -> int:
    number = int(ctx.args["number"])
    if number not in ctx.st.pulls[repo_name(ctx)]:
        raise GithubError(404, "Not Found")
    return number


def _pulls(ctx: Ctx) -> Response:
    name, req = repo_name(ctx), ctx.req
    state, head, base = req.arg("state", "open"), req.arg("head"), req.arg("base")
    owner = ctx.st.repos[name]["owner"]
    numbers = [
        n
        for n, pr in ctx.st.pulls[name].items()
        if state in ("all", ctx.st.issues[name][n]["state"])
        and (head is None or head in (f"{owner}:{pr['head']}", pr["head"]))
        and (base is None or base == pr["base"])
    ]
    key = {"updated": "updated_at"}.get(req.arg("sort") or "", "created_at")
    numbers.sort(
        key=lambda n: ctx.st.issues[name][n][key], reverse=req.arg("direction", "desc") != "asc"
    )
    return paginate(ctx, [render.pull(ctx.links, ctx.st, name, n, False) for n in numbers])


def _pull(ctx: Ctx) -> Response:
    return json_response(
        200, render.pull(ctx.links, ctx.st, repo_name(ctx), _pull_number(ctx), True)
    )


def _pull_files(ctx: Ctx) -> Response:
    name = repo_name(ctx)
    pr = ctx.st.pulls[name][_pull_number(ctx)]
    return paginate(ctx, [render.pr_file(ctx.links, name, pr["head_sha"], f) for f in pr["files"]])


def _reviews(ctx: Ctx) -> Response:
    name, number = repo_name(ctx), _pull_number(ctx)
    reviews = ctx.st.pulls[name][number]["reviews"]
    return paginate(ctx, [render.review(ctx.links, ctx.st, name, number, r) for r in reviews])


def _rate_limit(ctx: Ctx) -> Response:
    st = ctx.st
    res = {
        b: {
            "limit": lim,
            "used": st.rate_used.get(b, 0),
            "reset": st.rate_reset,
            "remaining": max(lim - st.rate_used.get(b, 0), 0),
        }
        for b, lim in RATE_LIMITS.items()
    }
    return json_response(200, {"resources": res, "rate": res["core"]})


READ_ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", r"/user", _viewer),
    ("GET", r"/users/(?P<login>[^/]+)", _user),
    ("GET", r"/rate_limit", _rate_limit),
    ("GET", r"/search/repositories", _search_repos),
    ("GET", r"/repositories/(?P<id>\d+)", _repo_by_id),
    ("GET", REPO, _repo),
    ("GET", REPO + r"/commits", _commits),
    ("GET", REPO + r"/commits/(?P<sha>[^/]+)", _commit),
    ("GET", REPO + r"/issues", _issues),
    ("GET", REPO + r"/issues/(?P<number>\d+)", _issue),
    ("GET", REPO + r"/issues/(?P<number>\d+)/comments", _comments),
    ("GET", REPO + r"/pulls", _pulls),
    ("GET", REPO + r"/pulls/(?P<number>\d+)", _pull),
    ("GET", REPO + r"/pulls/(?P<number>\d+)/files", _pull_files),
    ("GET", REPO + r"/pulls/(?P<number>\d+)/reviews", _reviews),
]

"""Fake GitHub REST API (v3): authentication, routing, rate limits and fault answers.

Reads live in ``reads``, writes in ``writes``, shapes in
``render``. Copied from the real API: ``token``/``Bearer`` auth, 401 "Bad
credentials", 404 for unknown routes (GitHub never answers 405), ``x-ratelimit-*`` headers on
every response, 403 "API rate limit exceeded" once a bucket is spent.
"""

from __future__ import annotations

import re
import time
import uuid
from http import HTTPStatus

from simulator.faults import Fault, retry_after_header
from simulator.protocol import Request, Response, json_response
from simulator.state import Record, SimState
from tasks.github.fake import render
from tasks.github.fake.common import DOCS, RATE_LIMITS, Ctx, GithubError
from tasks.github.fake.reads import READ_ROUTES
from tasks.github.fake.state import GithubState
from tasks.github.fake.writes import WRITE_ROUTES

RATE_WINDOW_SECONDS = 3600
PRIMARY_MESSAGE = "API rate limit exceeded for user ID 1."
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
ROUTES = [(m, re.compile(p + "/?"), h) for m, p, h in READ_ROUTES + WRITE_ROUTES]


class GithubApi:
    """GitHub provider: ``handle`` answers a request against :class:`GithubState`."""

    provider = "github"

    def __init__(self, token: str) -> None:
        self._token = token

    def authenticate(self, req: Request) -> bool:
        scheme, _, value = req.headers.get("authorization", "").partition(" ")
        return scheme.lower() in ("token", "bearer") and value.strip() == self._token

    def unauthorized(self, req: Request) -> Response:
        missing = "authorization" not in req.headers
        message = "Requires authentication" if missing else "Bad credentials"
        return json_response(401, {"message": message, "documentation_url": DOCS, "status": "401"})

    def fault_response(self, fault: Fault, req: Request, st: SimState) -> Response:
        retry = fault.retry_after
        if fault.unauthorized:
            return self._error(401, "Bad credentials")
        if fault.rate_limit == "primary":
            reset = int(time.time() + (retry if retry is not None else 60))
            spent = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}
            return self._error(403, PRIMARY_MESSAGE, headers=spent)
        if fault.rate_limit == "secondary":
            wait = {"retry-after": retry_after_header(retry or 60)}
            return self._error(403, SECONDARY_MESSAGE, headers=wait)
        status = fault.status or 500
        headers = dict(fault.headers)
        if retry is not None or status == 429:
            headers.setdefault("retry-after", retry_after_header(retry if retry is not None else 1))
        if fault.body is not None:
            return json_response(status, fault.body, headers)
        message = SECONDARY_MESSAGE if status == 429 else HTTPStatus(status).phrase
        message = {401: "Bad credentials", 422: "Validation Failed"}.get(status, message)
        return self._error(status, message, headers=headers)

    def handle(self, req: Request, st: SimState) -> Response:
        gh, bucket = st.github, "search" if req.path.startswith("/search/") else "core"
        _refresh_window(gh)
        if gh.rate_limiting_disabled and req.path.rstrip("/") == "/rate_limit":
            return self._error(404, "Rate limiting is not enabled.")
        if req.path.rstrip("/") != "/rate_limit" and not gh.rate_limiting_disabled:
            if gh.rate_used.get(bucket, 0) >= RATE_LIMITS[bucket]:
                return self._error(403, PRIMARY_MESSAGE)
            gh.rate_used[bucket] = gh.rate_used.get(bucket, 0) + 1
        links = render.Links(api=f"{req.root}/github", web=f"{req.root}/github-web")
        for method, pattern, handler in ROUTES:
            match = pattern.fullmatch(req.path)
            if match and method == req.method:
                try:
                    return handler(Ctx(req, gh, links, match.groupdict()))
                except GithubError as err:
                    return self._error(err.status, err.message, err.errors)
        return self._error(404, "Not Found")

    def finish(self, req: Request, resp: Response, st: SimState) -> None:
        """Add the headers GitHub puts on every response (rate limit, request id)."""
        gh = st.github
        _refresh_window(gh)
        bucket = "search" if req.path.startswith("/search/") else "core"
        used = gh.rate_used.get(bucket, 0)
        headers = {
            "x-ratelimit-limit": RATE_LIMITS[bucket],
            "x-ratelimit-remaining": max(RATE_LIMITS[bucket] - used, 0),
            "x-ratelimit-reset": gh.rate_reset,
            "x-ratelimit-used": used,
            "x-ratelimit-resource": bucket,
            "x-github-media-type": "github.v3; format=json",
            "x-github-api-version-selected": "2022-11-28",
            "x-github-request-id": uuid.uuid4().hex[:20].upper(),
        }
        for name, value in headers.items():  # a fault's own values (remaining: 0) win
            if gh.rate_limiting_disabled and name.startswith("x-ratelimit-"):
                continue
            resp.default_header(name, str(value))

    @staticmethod
    def _error(
        status: int, message: str, errors: list | None = None, headers: dict[str, str] | None = None
    ) -> Response:
        body: Record = {"message": message, "documentation_url": DOCS, "status": str(status)}
        if errors is not None:
            body["errors"] = errors
        return json_response(status, body, headers)


def _refresh_window(gh: GithubState) -> None:
    # One shared window keeps the model simple; GitHub's search bucket really resets per minute.
    now = int(time.time())
    if now >= gh.rate_reset:
        gh.rate_used, gh.rate_reset = {}, now + RATE_WINDOW_SECONDS

"""Shared bits of the fake GitHub API: handler context, error type, repository lookup."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.protocol import Request
from tasks.github.fake.render import Links
from tasks.github.fake.state import GithubState

DOCS = "https://docs.github.com/rest"
REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"  # route prefix for repository paths
RATE_LIMITS = {"core": 5000, "search": 30}  # requests per window, per bucket


class GithubError(Exception):
    """Raised by handlers; rendered as GitHub's ``{"message", "errors"?}`` error body."""

    def __init__(self, status: int, message: str, errors: list | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors


@dataclass
class Ctx:
    """Everything a route handler needs for one request."""

    req: Request
    st: GithubState
    links: Links
    args: dict[str, str]


def repo_name(ctx: Ctx) -> str:
    """Canonical ``owner/name`` for the route's repository (GitHub matches case-insensitively)."""
    wanted = f"{ctx.args['owner']}/{ctx.args['repo']}".lower()
    for name in ctx.st.repos:
        if name.lower() == wanted:
            return name
    raise GithubError(404, "Not Found")

"""GitHub's client (PyGithub) and what tools and syncs share about calling it: the
client factory, its rate scopes and rate headers, the doctor probe, repositories by
name.

The client is built from ``GITHUB_TOKEN`` / ``GITHUB_API_URL`` with PyGithub's
own retries and inter-request sleeps off: waiting is the fleet's job. Nothing
here reads ``GET /user``, which a GitHub App installation token may not, so every
tool works for an App too.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from tasks.github import DECLARATION
from tasks.github.errors import map_error
from tasks.shared.clients import per_thread, require
from tasks.shared.segments import segments
from worker.runtime.catalog import Provider
from worker.runtime.sdk import lazy
from worker.settings import Settings

if TYPE_CHECKING:
    from github import Github
    from github.Repository import Repository

# Loaded by Provider.connect, not by reading the catalog (worker.runtime.sdk).
github = lazy("github")

# Rate scopes (worker.runtime.governor): the core budget, content creation, search.
READ = ["github:{credential}"]
WRITE = ["github:{credential}", "github-write:{credential}"]
SEARCH = ["github:{credential}", "github-search:{credential}"]


@per_thread
def make_client(settings: Settings, credential: str) -> Github:
    require(settings.github_token, "GITHUB_TOKEN", credential)
    assert settings.github_token is not None
    return github.Github(
        auth=github.Auth.Token(settings.github_token.get_secret_value()),
        base_url=settings.github_api_url.rstrip("/"),
        # PyGithub insists on whole seconds; round up so 0.5 s does not become 0.
        timeout=math.ceil(settings.provider_timeout_seconds),
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
        lazy=True,  # objects load on first use: no GET of a repo just to list its issues
    )


def repository(gh: Github, repo: str) -> Repository:
    """The repository ``"owner/name"``, each part checked and quoted as one path segment
    (PyGithub joins it into ``/repos/...`` as given). Lazy: no request until it is used."""
    return gh.get_repo(segments(repo, 2))


def given(value: Any) -> Any:
    """``value``, or PyGithub's ``NotSet`` when it is empty (the parameter is left out)."""
    return value or github.GithubObject.NotSet


def rate_headers(gh: Github) -> dict[str, str]:
    """The rate-limit headers of the client's last response, for the governor.

    Read from what PyGithub kept of that response, never through
    ``Github.rate_limiting``, which asks ``GET /rate_limit`` when no response carried
    the headers (GitHub Enterprise Server with rate limiting disabled answers that
    with a 404, a proxy may strip them). Cleared once read: each call reports only
    what its own responses said."""
    requester = gh.requester
    (remaining, limit), reset = requester.rate_limiting, requester.rate_limiting_resettime
    requester.rate_limiting, requester.rate_limiting_resettime = (-1, -1), 0
    if limit < 0:
        return {}
    return {
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-reset": str(reset),
    }


# What a token's prefix says it is (GitHub documents these prefixes).
TOKEN_KINDS = {
    "ghp_": "personal access token",
    "github_pat_": "fine-grained personal access token",
    "ghs_": "GitHub App installation token",
    "gho_": "OAuth token",
    "ghu_": "GitHub App user token",
}


def probe(gh: Github, settings: Settings) -> dict[str, Any]:
    """One ``GET /rate_limit``, for `fleet doctor`. Never ``GET /user``: an App
    installation token may not read it, so who the fleet acts as is the token's kind.
    GitHub Enterprise Server with rate limiting disabled answers it 404: reachable,
    and no limits to report."""
    token = settings.github_token.get_secret_value() if settings.github_token else ""
    kind = next((k for p, k in TOKEN_KINDS.items() if token.startswith(p)), "token")
    acts_as = f"a {kind} at {settings.github_api_url}"
    try:
        overview = gh.get_rate_limit()
    except github.GithubException as exc:
        if exc.status != 404:
            raise
        return {"acts_as": acts_as, "limits": {"rate limiting": "not enabled on this server"}}
    limits = {}
    for name in ("core", "search", "graphql"):
        rate = getattr(overview.resources, name, None)
        if rate is None:  # a resource this API does not report
            continue
        reset = max(0, int(rate.reset.timestamp() - time.time()))
        limits[name] = f"{rate.remaining}/{rate.limit} left, resets in {reset}s"
    return {"acts_as": acts_as, "limits": limits}


provider = Provider(
    DECLARATION, client=make_client, map_error=map_error, rate_headers=rate_headers, probe=probe
)

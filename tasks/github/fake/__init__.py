"""The fake GitHub REST API the simulator serves under ``/github`` (PyGithub's
``base_url``): ``api`` (auth, routing, rate limits, fault answers), ``reads`` and
``writes`` (the routes), ``render`` (payloads), ``state`` and ``seed`` (its world).

Runtime switches:

- ``github_app_installation`` (off): the GitHub token is an App installation's, so
  ``GET /user`` answers 403 "Resource not accessible by integration".
- ``github_rate_limiting_disabled`` (off): GitHub Enterprise Server with rate limiting
  disabled: no ``x-ratelimit-*`` header on any response, ``GET /rate_limit`` answers 404
  "Rate limiting is not enabled.", and no primary limit is enforced. A proxy that strips
  the headers looks the same to a client.
"""

from __future__ import annotations

from typing import Any

from simulator.fake import Fake, Switch
from tasks.github.fake.api import GithubApi
from tasks.github.fake.seed import seed


def _set(attr: str) -> Any:
    return lambda st, value: setattr(st, attr, value)


FAKE = Fake(
    "/github",
    api=lambda credentials: GithubApi(credentials.github_token),
    seed=seed,
    credentials={"github_token": "sim-github-token"},
    switches=(
        Switch(
            "github_app_installation",
            lambda st: st.app_installation,
            _set("app_installation"),
        ),
        Switch(
            "github_rate_limiting_disabled",
            lambda st: st.rate_limiting_disabled,
            _set("rate_limiting_disabled"),
        ),
    ),
)

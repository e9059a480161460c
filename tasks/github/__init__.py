"""GitHub (PyGithub): repositories, commits, issues, pull requests, reviews; issue and
commit syncs. The declaration; the client (factory, rate scopes and headers, probe) is
in ``client``, the error mapper in ``errors``, the tools' params in ``params``, the tools
in ``reads`` and ``writes`` (each write beside its reconcile lookup), what they return in
``shapes``, the sync kinds in ``syncs``."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, Field, SecretStr

from worker.providers import Declaration, Simulation


class GithubSettings(BaseModel):
    """GitHub's settings, under the names its own tooling uses."""

    github_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("GITHUB_TOKEN")
    )
    github_api_url: str = Field(
        default="https://api.github.com", validation_alias=AliasChoices("GITHUB_API_URL")
    )


def _simulated(base: str, credentials: Any) -> dict[str, str]:
    return {"GITHUB_TOKEN": credentials.github_token, "GITHUB_API_URL": f"{base}/github"}


DECLARATION = Declaration(
    "github",
    title="GitHub",
    settings=GithubSettings,
    credential="github_token",
    api_setting="github_api_url",
    sdk=("github", "requests"),
    limits={  # GitHub's published limits for a token or an App installation
        "github": ["5000/h burst 100"],
        "github-write": ["80/m burst 10", "500/h burst 50"],
        "github-search": ["30/m burst 5"],
    },
    fake="fake",
    tools=("reads", "writes"),
    syncs="syncs",
    simulate=Simulation(
        _simulated,
        syncs=(
            {"name": "demo-github-issues", "kind": "github.issues", "every": 60,
             "repo": "octo/hello"},
            {"name": "demo-github-commits", "kind": "github.commits", "every": 300,
             "repo": "octo/hello"},
        ),
    ),
)  # fmt: skip

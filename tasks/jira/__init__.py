"""Jira (the jira library, REST v2): issues, comments, transitions, JQL search; issues a
JQL query selects as a sync. The declaration; the client (factory, rate scopes, probe) is
in ``client``, the error mapper in ``errors``, the tools' params in ``params``, JQL from
filters in ``jql``, the tools in ``reads`` and ``writes`` (each write beside its
reconcile lookup), what they return in ``shapes``, the sync kind in ``syncs``.
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, Field, SecretStr

from worker.providers import Declaration, Simulation


class JiraSettings(BaseModel):
    """Jira's settings, under the names its own tooling uses."""

    jira_base_url: str | None = Field(default=None, validation_alias=AliasChoices("JIRA_BASE_URL"))
    jira_username: str | None = Field(default=None, validation_alias=AliasChoices("JIRA_USERNAME"))
    jira_api_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("JIRA_API_TOKEN")
    )


def _simulated(base: str, credentials: Any) -> dict[str, str]:
    return {
        "JIRA_API_TOKEN": credentials.jira_token,
        "JIRA_USERNAME": credentials.jira_user,
        "JIRA_BASE_URL": f"{base}/jira",
    }


DECLARATION = Declaration(
    "jira",
    title="Jira",
    settings=JiraSettings,
    credential="jira_api_token",
    api_setting="jira_base_url",
    sdk=("jira", "requests"),
    # Jira Cloud's limits are cost-based and not published as a number, so the
    # default is a conservative guess (FLEET_RATE_LIMITS overrides it).
    limits={"jira": ["300/m burst 30"]},
    fake="fake",
    tools=("reads", "writes"),
    syncs="syncs",
    simulate=Simulation(
        _simulated,
        syncs=({"name": "demo-jira-issues", "kind": "jira.issues", "every": 120,
                "jql": "project = DEMO"},),
    ),
)  # fmt: skip

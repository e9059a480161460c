"""Slack (slack_sdk): messages, channels, users, history; a channel's history as a sync.
The declaration; the client (factory, history scope, probe) is in ``client``, the error
mapper in ``errors``, the tools' params in ``params``, the tools in ``reads`` and
``writes`` (each write beside its reconcile lookup), what they return in ``shapes``,
channel IDs for rate scopes in ``channels``, the sync kind in ``syncs``."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, Field, SecretStr

from worker.providers import Declaration, Simulation


class SlackSettings(BaseModel):
    """Slack's settings, under the names its own tooling uses."""

    slack_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN")
    )
    slack_api_url: str = Field(
        default="https://slack.com/api/", validation_alias=AliasChoices("SLACK_API_URL")
    )


def _simulated(base: str, credentials: Any) -> dict[str, str]:
    return {"SLACK_BOT_TOKEN": credentials.slack_token, "SLACK_API_URL": f"{base}/slack/api/"}


DECLARATION = Declaration(
    "slack",
    title="Slack",
    settings=SlackSettings,
    credential="slack_bot_token",
    api_setting="slack_api_url",
    sdk=("slack_sdk",),
    # Slack limits each Web API method by its tier, per workspace, and chat.postMessage
    # to about one message per second per channel (keyed by the channel's ID however
    # the agent named it: tasks.slack.channels). History and replies are Tier 1 (1/min)
    # for apps not approved for the Slack Marketplace.
    limits={
        "slack-tier1": ["1/m"],
        "slack-tier2": ["20/m burst 5"],
        "slack-tier3": ["50/m burst 10"],
        "slack-tier4": ["100/m burst 20"],
        "slack-post": ["600/m burst 20"],
        "slack-channel": ["1/s burst 2"],
    },
    fake="fake",
    tools=("reads", "writes"),
    syncs="syncs",
    simulate=Simulation(
        _simulated,
        syncs=({"name": "demo-slack-history", "kind": "slack.history", "every": 120,
                "channel": "C0001"},),
    ),
)  # fmt: skip

"""The params of Slack's tools."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, Field, model_validator

from tasks.shared.paging import PageParams
from tasks.slack.channels import CHANNEL_ID
from worker.runtime.params import params_config

# Slack's rule: lowercase letters, digits, "-" and "_", at least one letter or digit.
CHANNEL_NAME = r"[a-z0-9_-]*[a-z0-9][a-z0-9_-]*"
TS = r"^[0-9]{1,10}\.[0-9]{1,6}$"  # not \d: pydantic's \d also takes non-ASCII digits


# A Block Kit block is free-form but for its string ``type`` (checked below), which
# the published schema says too.
Block = Annotated[
    dict[str, Any],
    Field(json_schema_extra={"required": ["type"], "properties": {"type": {"type": "string"}}}),
]


class PostMessage(BaseModel):
    channel: str = Field(
        pattern=rf"^(?:{CHANNEL_ID}|#?{CHANNEL_NAME})$",
        max_length=81,
        description='Channel ID ("C0123ABCD") or name ("#general").',
    )
    text: str | None = Field(
        default=None,
        max_length=40_000,
        description="Message text (mrkdwn): needed unless blocks are given, then their "
        "notification fallback.",
    )
    blocks: list[Block] | None = Field(
        default=None, min_length=1, max_length=50, description="Block Kit blocks."
    )
    thread_ts: str | None = Field(
        default=None, pattern=TS, description="Reply in the thread of this parent message ts."
    )
    model_config = params_config({"channel": "C0001", "text": "Deploy finished :white_check_mark:"})

    @model_validator(mode="after")
    def _has_content(self) -> PostMessage:
        if not self.text and not self.blocks:
            raise ValueError("give text or blocks")
        if self.blocks and not all(isinstance(b.get("type"), str) for b in self.blocks):
            raise ValueError("every block needs a string 'type'")
        return self


class ListChannels(PageParams):
    types: str = Field(
        default="public_channel",
        pattern=r"^(?:public_channel|private_channel|mpim|im)"
        r"(?:,(?:public_channel|private_channel|mpim|im))*$",
        description="Comma-separated: public_channel, private_channel, mpim, im.",
    )
    exclude_archived: bool = Field(default=True, description="Leave archived channels out.")
    model_config = params_config({"types": "public_channel,private_channel", "limit": 50})


class CreateChannel(BaseModel):
    name: str = Field(
        min_length=1,
        max_length=80,
        pattern=rf"^{CHANNEL_NAME}$",
        description="Lowercase letters, digits, '-' and '_' (at most 80).",
    )
    is_private: bool = Field(default=False, description="Create a private channel.")
    model_config = params_config({"name": "incident-2024-07", "is_private": False})


class GetUserInfo(BaseModel):
    user: str = Field(pattern=r"^[UW][A-Z0-9]{2,20}$", description='User ID ("U0123ABCD").')
    model_config = params_config({"user": "U0001"})


class ListUsers(PageParams):
    model_config = params_config({"limit": 50})


class GetChannelHistory(PageParams):
    channel: str = Field(pattern=rf"^{CHANNEL_ID}$", description='Channel ID ("C0123ABCD").')
    oldest: str | None = Field(default=None, pattern=TS, description="Only messages after this ts.")
    latest: str | None = Field(
        default=None, pattern=TS, description="Only messages before this ts."
    )
    model_config = params_config({"channel": "C0001", "oldest": "1700000000.000100", "limit": 20})

    @model_validator(mode="after")
    def _window(self) -> GetChannelHistory:
        if self.oldest and self.latest and Decimal(self.oldest) > Decimal(self.latest):
            raise ValueError("oldest must not be after latest")
        return self

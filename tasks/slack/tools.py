"""Slack tools through slack_sdk's ``WebClient``: post messages, channels, users, history.

The client is built from ``SLACK_BOT_TOKEN`` / ``SLACK_API_URL`` with the SDK's
own retry handlers off: waiting is the fleet's job, a worker never sleeps in
an SDK. Slack answers most errors as HTTP 200 ``{"ok": false, "error": code}``;
:func:`map_error` classifies them by that code (and the HTTP status). List
tools fetch one page per call and pass Slack's own cursor through.

``slack.post_message`` sends message ``metadata`` naming its run (event type
``toolfleet_run``); after an ambiguous failure the retry reads one page of
history (or of the thread's replies) with ``include_all_metadata`` and looks for
it (worker.tools.reconcile). No ``auth.test`` and no text matching: blocks-only
posts are found too.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from http.client import HTTPException
from typing import TYPE_CHECKING, Annotated, Any
from urllib.error import URLError

from pydantic import BaseModel, Field, model_validator

from tasks.shared.clients import per_thread, require
from tasks.shared.paging import PageParams, page
from tasks.slack import DECLARATION
from tasks.slack.channels import CHANNEL_ID, channel_scope, remember
from worker.errors import (
    BadParams,
    Conflict,
    Fatal,
    NotFound,
    RateLimited,
    ToolError,
    Unauthorized,
    Unavailable,
    internal,
    parse_retry_after,
    status_error,
)
from worker.settings import Settings
from worker.tools.catalog import Provider
from worker.tools.context import current_call
from worker.tools.params import params_config
from worker.tools.reconcile import MARK, lookup_since
from worker.tools.sdk import lazy

if TYPE_CHECKING:
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

# Loaded by Provider.connect, not by reading the catalog (worker.tools.sdk).
slack_sdk = lazy("slack_sdk")

# Slack's rule: lowercase letters, digits, "-" and "_", at least one letter or digit.
CHANNEL_NAME = r"[a-z0-9_-]*[a-z0-9][a-z0-9_-]*"
TS = r"^[0-9]{1,10}\.[0-9]{1,6}$"  # not \d: pydantic's \d also takes non-ASCII digits
# Rate scopes: one per Web API tier, per workspace (see the declaration's limits).
TIER1_HISTORY = "slack-tier1:{credential}:conversations.history"
LIMITS = DECLARATION.limits
RECONCILE_SCAN = 15  # history is Tier 1 for most apps: one page of at most 15
MARKER_EVENT = f"{MARK}_run"  # message metadata naming the run that posted it
RATE_LIMITED_WAIT = 1.0  # "rate_limited" (HTTP 200, no header): Slack's ~1 msg/s per channel

UNAUTHORIZED = {
    "not_authed", "invalid_auth", "account_inactive", "token_revoked", "token_expired",
    "missing_scope", "no_permission", "not_allowed_token_type", "not_in_channel",
    "access_denied", "restricted_action", "ekm_access_denied", "team_access_not_granted",
}  # fmt: skip
NOT_FOUND = {
    "channel_not_found", "user_not_found", "users_not_found", "thread_not_found",
    "message_not_found", "team_not_found",
}  # fmt: skip
CONFLICT = {"name_taken", "already_in_channel", "is_archived", "already_archived"}
BAD_PARAMS = {
    "invalid_blocks", "invalid_blocks_format", "msg_too_long", "no_text", "invalid_arguments",
    "invalid_arg_name", "invalid_array_arg", "invalid_cursor", "invalid_limit", "invalid_types",
    "invalid_thread_ts", "invalid_json", "json_not_object", "invalid_form_data",
    "invalid_charset", "too_many_attachments", "bad_timestamp",
}  # fmt: skip
BAD_PARAMS_PREFIXES = ("invalid_name", "invalid_ts_")
UNAVAILABLE = {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}


@per_thread
def make_client(settings: Settings, credential: str) -> WebClient:
    require(settings.slack_bot_token, "SLACK_BOT_TOKEN", credential)
    assert settings.slack_bot_token is not None
    return slack_sdk.WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        # Kept a float (the SDK says int, urllib takes floats): int() would turn a
        # sub-second setting into 0, a non-blocking socket that fails every call.
        timeout=settings.provider_timeout_seconds,  # type: ignore[arg-type]
        retry_handlers=[],
    )


def map_error(exc: Exception) -> ToolError:
    """slack_sdk and urllib failures → the taxonomy (the one Slack mapper)."""
    if isinstance(exc, slack_sdk.errors.SlackApiError):
        return _api_error(exc)
    # socket.timeout is TimeoutError; RemoteDisconnected is a ConnectionError.
    if isinstance(exc, URLError | TimeoutError | ConnectionError | HTTPException):
        return Unavailable(f"Slack unreachable: {type(exc).__name__}")
    return internal(exc, step="the call", before_call=False)


def _api_error(exc: SlackApiError) -> ToolError:
    response = exc.response
    status = int(getattr(response, "status_code", 0) or 0)
    headers = {k.lower(): str(v) for k, v in (getattr(response, "headers", None) or {}).items()}
    data = response.data if isinstance(getattr(response, "data", None), dict) else {}
    raw_code = str(data.get("error") or "")
    # On a non-JSON body the SDK puts its own sentence here: not a code worth keeping.
    code = raw_code if re.fullmatch(r"[a-z0-9_]+", raw_code) else None
    method = str(getattr(response, "api_url", "") or "").split("?")[0].rsplit("/", 1)[-1]
    message = f"Slack {method or 'API'}: {code or f'HTTP {status}'}"
    if code == "missing_scope" and data.get("needed"):
        message += f" (needs {str(data['needed'])[:100]})"
    notes = (data.get("response_metadata") or {}).get("messages") or []
    if notes:
        message += ": " + "; ".join(str(n)[:200] for n in notes[:3])
    details: dict[str, Any] = {
        "provider_status": status,
        "code": code,
        "request_id": headers.get("x-slack-req-id"),
    }
    if status == 429 or code in ("ratelimited", "rate_limited"):
        wait = parse_retry_after(headers.get("retry-after"))
        details["retry_after"] = wait if wait is not None else RATE_LIMITED_WAIT
        return RateLimited(message, details)
    if status >= 500 or code in UNAVAILABLE:
        return Unavailable(message, details)
    for codes, cls in ((UNAUTHORIZED, Unauthorized), (NOT_FOUND, NotFound), (CONFLICT, Conflict)):
        if code in codes:
            return cls(message, details)
    if code in BAD_PARAMS or (code or "").startswith(BAD_PARAMS_PREFIXES):
        return BadParams(message, details)
    if status != 200:
        return status_error(status, message, **details)
    return Fatal(message, details)


def probe(client: WebClient, settings: Settings) -> dict[str, Any]:
    """One ``auth.test`` (Tier 4, any token may call it), for `fleet doctor`."""
    who = client.auth_test()
    bot = f", bot {who['bot_id']}" if who.get("bot_id") else ""
    return {
        "acts_as": f"{who['user']} ({who['user_id']}{bot}) in {who['team']} ({who['url']})",
        # Slack publishes tiers, not a budget per token: these are the fleet's pacing.
        "limits": {kind: ", ".join(texts) for kind, texts in LIMITS.items()},
    }


provider = Provider(DECLARATION, client=make_client, map_error=map_error, probe=probe)


# ---- params ---------------------------------------------------------------


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


# ---- tools ----------------------------------------------------------------


def _posted_message(slack: WebClient, p: PostMessage, since: datetime) -> dict[str, Any] | None:
    """The message an earlier attempt of this run posted, found by its metadata marker
    in one page (RECONCILE_SCAN, Tier 1's maximum) of the messages since the run began.

    History takes a channel ID, and resolving a name means paging conversations.list:
    a post to a channel given by name is not looked up (the run records the lookup as
    skipped) and may repeat. A bot without ``channels:history`` gets ``missing_scope``
    here; the policy then posts anyway and records the skip the same way.
    """
    if not re.fullmatch(CHANNEL_ID, p.channel):
        raise Fatal("a channel given by name cannot be looked up (history takes an ID)")
    oldest = f"{lookup_since(since).timestamp():.6f}"
    lookup = {"channel": p.channel, "oldest": oldest, "limit": RECONCILE_SCAN}
    if p.thread_ts:
        found = slack.conversations_replies(ts=p.thread_ts, include_all_metadata=True, **lookup)
    else:
        found = slack.conversations_history(include_all_metadata=True, **lookup)
    run_id = current_call().run_id
    for message in found.data.get("messages", []):
        metadata = message.get("metadata") or {}
        payload = metadata.get("event_payload") or {}
        if metadata.get("event_type") == MARKER_EVENT and payload.get("run_id") == run_id:
            result = {"channel": p.channel, "ts": message["ts"], "text": message.get("text")}
            return result | _present(thread_ts=message.get("thread_ts"))
    return None


@provider.tool(
    "slack.post_message",
    writes=True,
    scopes=["slack-post:{credential}", "slack-channel:{credential}:{channel_id}"],
    scope_values=channel_scope,
    reconcile=_posted_message,
    reconcile_scopes=[TIER1_HISTORY],  # replies are looked up on the same budget
)
def post_message(slack: WebClient, p: PostMessage) -> dict[str, Any]:
    """Post a message (text and/or Block Kit blocks) to a channel, optionally in a thread."""
    args = _present(channel=p.channel, text=p.text, blocks=p.blocks, thread_ts=p.thread_ts)
    # Slack has no idempotency key: the message carries metadata naming its run,
    # and a retry after a lost response first looks for it (_posted_message).
    marker = {"event_type": MARKER_EVENT, "event_payload": {"run_id": current_call().run_id}}
    data = slack.chat_postMessage(**args, metadata=marker).data
    remember(p.channel, str(data.get("channel")), "default")  # a name's ID, for its scope
    message = data.get("message") or {}
    result = {"channel": data["channel"], "ts": data["ts"], "text": message.get("text", p.text)}
    return result | _present(thread_ts=message.get("thread_ts"))


@provider.tool(
    "slack.list_channels", writes=False, scopes=["slack-tier2:{credential}:conversations.list"]
)
def list_channels(slack: WebClient, p: ListChannels) -> dict[str, Any]:
    """List channels the bot can see, by type, archived ones left out by default."""
    data = slack.conversations_list(
        **_present(
            types=p.types, exclude_archived=p.exclude_archived, limit=p.limit, cursor=p.cursor
        )
    ).data
    return page([_channel(c) for c in data.get("channels", [])], _next_cursor(data))


@provider.tool(
    "slack.create_channel", writes=True, scopes=["slack-tier2:{credential}:conversations.create"]
)
def create_channel(slack: WebClient, p: CreateChannel) -> dict[str, Any]:
    """Create a public or private channel (the name must be free)."""
    data = slack.conversations_create(name=p.name, is_private=p.is_private).data
    return _channel(data["channel"])


@provider.tool("slack.get_user_info", writes=False, scopes=["slack-tier4:{credential}:users.info"])
def get_user_info(slack: WebClient, p: GetUserInfo) -> dict[str, Any]:
    """One user's name, real name, time zone and admin/bot/deleted flags."""
    return _user(slack.users_info(user=p.user).data["user"])


@provider.tool("slack.list_users", writes=False, scopes=["slack-tier2:{credential}:users.list"])
def list_users(slack: WebClient, p: ListUsers) -> dict[str, Any]:
    """List the workspace's users (deleted ones and bots included, flagged)."""
    data = slack.users_list(**_present(limit=p.limit, cursor=p.cursor)).data
    return page([_user(u) for u in data.get("members", [])], _next_cursor(data))


@provider.tool("slack.get_channel_history", writes=False, scopes=[TIER1_HISTORY])
def get_channel_history(slack: WebClient, p: GetChannelHistory) -> dict[str, Any]:
    """A channel's messages, newest first, optionally between two ts (thread replies excluded)."""
    data = slack.conversations_history(
        **_present(
            channel=p.channel, oldest=p.oldest, latest=p.latest, limit=p.limit, cursor=p.cursor
        )
    ).data
    return page([_message(m) for m in data.get("messages", [])], _next_cursor(data))


# ---- shaping ----------------------------------------------------------------


def _present(**values: Any) -> dict[str, Any]:
    """The arguments that were given (the SDK would send ``None`` as "None")."""
    return {k: v for k, v in values.items() if v is not None}


def _next_cursor(data: dict[str, Any]) -> str | None:
    # Slack signals the last page with an empty string (or no metadata at all).
    return (data.get("response_metadata") or {}).get("next_cursor") or None


def _channel(c: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": c["id"],
        "name": c.get("name"),
        "is_private": bool(c.get("is_private")),
        "is_archived": bool(c.get("is_archived")),
        "topic": (c.get("topic") or {}).get("value", ""),
        "purpose": (c.get("purpose") or {}).get("value", ""),
    } | _present(num_members=c.get("num_members"))


def _user(u: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": u["id"],
        "name": u.get("name"),
        "real_name": u.get("real_name") or (u.get("profile") or {}).get("real_name"),
        "is_bot": bool(u.get("is_bot")),
        "deleted": bool(u.get("deleted")),
        "tz": u.get("tz"),
        "is_admin": bool(u.get("is_admin")),
    }


def _message(m: dict[str, Any]) -> dict[str, Any]:
    # Bot posts may carry only a bot_id.
    return {"ts": m["ts"], "user": m.get("user") or m.get("bot_id"), "text": m.get("text", "")} | (
        _present(thread_ts=m.get("thread_ts"), reply_count=m.get("reply_count"))
    )

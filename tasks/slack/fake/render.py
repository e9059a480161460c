"""Slack Web API wire formats: object shapes, ``ts`` strings and pagination cursors.

Shapes follow the examples in Slack's published OpenAPI description for
``conversations.list/create/history`` and ``users.info/list``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from simulator.state import Record
from tasks.slack.fake.state import SlackState

Json = dict[str, Any]
Params = dict[str, Any]


class SlackError(Exception):
    """An ``ok: false`` answer; the message is the Slack error code, ``extra`` rides along
    (``missing_scope`` says what was ``needed``)."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.extra = extra


def fmt_ts(us: int) -> str:
    """Microseconds since the epoch -> Slack ``ts`` string."""
    return f"{us // 1_000_000}.{us % 1_000_000:06d}"


def parse_ts(raw: str, error: str) -> int:
    """Slack ``ts`` string -> microseconds; raises :class:`SlackError` ``error`` if malformed."""
    seconds, _, fraction = raw.strip().partition(".")
    if not seconds.isdigit() or (fraction and not fraction.isdigit()) or len(fraction) > 6:
        raise SlackError(error)
    return int(seconds) * 1_000_000 + int(fraction.ljust(6, "0") or 0)


def limit_arg(params: Params, default: int, maximum: int) -> int:
    """``limit`` argument; 0, absent or junk means the method's default."""
    try:
        value = int(params.get("limit") or default)
    except (TypeError, ValueError):
        value = default
    return min(value if value > 0 else default, maximum)


def read_cursor(params: Params, prefix: str) -> str | None:
    """Decode ``cursor`` (base64 ``"<prefix>:<value>"``, like Slack's own) or None."""
    raw = params.get("cursor")
    if not raw:
        return None
    try:
        kind, _, value = base64.b64decode(raw, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise SlackError("invalid_cursor") from exc
    if kind != prefix or not value:
        raise SlackError("invalid_cursor")
    return value


def next_cursor(prefix: str, value: str | None) -> dict[str, str]:
    token = base64.b64encode(f"{prefix}:{value}".encode()).decode() if value else ""
    return {"next_cursor": token}


def page_by_id(
    items: list[Record], params: Params, prefix: str, limit: int
) -> tuple[list[Record], dict[str, str]]:
    """One page of ``items`` (ordered, each with an ``id``) after the cursor, plus metadata."""
    start = read_cursor(params, prefix)
    ids = [i["id"] for i in items]
    if start is not None and start not in ids:
        raise SlackError("invalid_cursor")
    begin = ids.index(start) if start is not None else 0
    chunk = items[begin : begin + limit]
    following = items[begin + limit]["id"] if begin + limit < len(items) else None
    return chunk, next_cursor(prefix, following)


def channel(st: SlackState, c: Record) -> Json:
    """Conversation object as returned by ``conversations.list/create/info``."""
    return {
        "id": c["id"], "name": c["name"], "is_channel": not c["is_private"],
        "is_group": False, "is_im": False, "is_mpim": False, "is_private": c["is_private"],
        "created": c["created"], "is_archived": c["is_archived"], "is_general": c["is_general"],
        "unlinked": 0, "name_normalized": c["name"], "is_shared": False, "is_org_shared": False,
        "is_ext_shared": False, "is_pending_ext_shared": False, "pending_shared": [],
        "context_team_id": st.team["id"], "parent_conversation": None, "creator": c["creator"],
        "shared_team_ids": [st.team["id"]], "is_member": st.bot_user in c["members"],
        "topic": {"value": c["topic"], "creator": c["creator"], "last_set": c["created"]},
        "purpose": {"value": c["purpose"], "creator": c["creator"], "last_set": c["created"]},
        "previous_names": [], "num_members": len(c["members"]),
    }  # fmt: skip


def user(st: SlackState, u: Record) -> Json:
    """User object as returned by ``users.info`` / ``users.list``."""
    profile = {
        "real_name": u["real_name"], "real_name_normalized": u["real_name"],
        "display_name": u["name"], "display_name_normalized": u["name"],
        "email": f"{u['name']}@example.com", "image_48": f"https://avatars.invalid/{u['id']}.png",
        "status_text": "", "status_emoji": "", "team": st.team["id"],
    }  # fmt: skip
    if u["is_bot"]:
        profile["bot_id"] = "B0001"
    return {
        "id": u["id"], "team_id": st.team["id"], "name": u["name"], "deleted": u["deleted"],
        "color": "9f69e7", "real_name": u["real_name"], "tz": u["tz"], "tz_label": "CET",
        "tz_offset": 3600, "profile": profile, "is_admin": u["is_admin"], "is_owner": False,
        "is_primary_owner": False, "is_restricted": False, "is_ultra_restricted": False,
        "is_bot": u["is_bot"], "is_app_user": False, "updated": 1700000000,
    }  # fmt: skip


def message(st: SlackState, channel_id: str, m: Record, with_replies: bool = True) -> Json:
    """Message object; thread parents get ``reply_count``/``latest_reply`` like the real API."""
    out: Json = {"type": "message", "user": m["user"], "text": m["text"], "ts": fmt_ts(m["ts"]),
                 "team": st.team["id"]}  # fmt: skip
    if "blocks" in m:
        out["blocks"] = m["blocks"]
    if st.users.get(m["user"], {}).get("is_bot"):
        out.update(bot_id="B0001", app_id="A0001")
    if m.get("thread_ts"):
        out["thread_ts"] = fmt_ts(m["thread_ts"])
        if m.get("broadcast"):
            out["subtype"] = "thread_broadcast"
    replies = [r for r in st.messages[channel_id] if r.get("thread_ts") == m["ts"] != r["ts"]]
    if with_replies and replies:
        out.update(
            thread_ts=fmt_ts(m["ts"]), reply_count=len(replies),
            reply_users=sorted({r["user"] for r in replies}),
            reply_users_count=len({r["user"] for r in replies}),
            latest_reply=fmt_ts(replies[-1]["ts"]),
        )  # fmt: skip
    return out

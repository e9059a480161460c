"""What Slack's tools return: each object's summary, the arguments given, the next cursor."""

from __future__ import annotations

from typing import Any


def present(**values: Any) -> dict[str, Any]:
    """The arguments that were given (the SDK would send ``None`` as "None")."""
    return {k: v for k, v in values.items() if v is not None}


def next_cursor(data: dict[str, Any]) -> str | None:
    # Slack signals the last page with an empty string (or no metadata at all).
    return (data.get("response_metadata") or {}).get("next_cursor") or None


def channel_summary(c: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": c["id"],
        "name": c.get("name"),
        "is_private": bool(c.get("is_private")),
        "is_archived": bool(c.get("is_archived")),
        "topic": (c.get("topic") or {}).get("value", ""),
        "purpose": (c.get("purpose") or {}).get("value", ""),
    } | present(num_members=c.get("num_members"))


def user_summary(u: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": u["id"],
        "name": u.get("name"),
        "real_name": u.get("real_name") or (u.get("profile") or {}).get("real_name"),
        "is_bot": bool(u.get("is_bot")),
        "deleted": bool(u.get("deleted")),
        "tz": u.get("tz"),
        "is_admin": bool(u.get("is_admin")),
    }


def message_summary(m: dict[str, Any]) -> dict[str, Any]:
    # Bot posts may carry only a bot_id.
    return {"ts": m["ts"], "user": m.get("user") or m.get("bot_id"), "text": m.get("text", "")} | (
        present(thread_ts=m.get("thread_ts"), reply_count=m.get("reply_count"))
    )

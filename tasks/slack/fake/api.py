"""Fake Slack Web API: ``/slack/api/<method>`` with Slack's own error conventions.

As on slack.com: errors are HTTP 200 with ``{"ok": false, "error": "<code>"}``; only rate
limits use a status (429 + ``Retry-After`` + ``"ratelimited"``). The bot's scopes and the
Tier 1 history limits are runtime switches (:mod:`tasks.slack.fake`); message ``metadata``
is kept and returned by history and replies only with ``include_all_metadata``. Arguments
may arrive as a query string, a form body or a JSON body (slack_sdk always POSTs, form or
JSON depending on the method). Pagination uses opaque base64 cursors in
``response_metadata.next_cursor``. Message ``ts`` values are strictly increasing strings like
``"1700000000.000100"``.
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from simulator.faults import Fault, retry_after_header
from simulator.protocol import Request, Response, json_response
from simulator.state import Record, SimState
from tasks.slack.fake.render import (
    SlackError,
    fmt_ts,
    limit_arg,
    next_cursor,
    page_by_id,
    parse_ts,
    read_cursor,
)
from tasks.slack.fake.render import channel as render_channel
from tasks.slack.fake.render import message as render_message
from tasks.slack.fake.render import user as render_user
from tasks.slack.fake.state import SlackState, slack_scopes

Params = dict[str, Any]
CHANNEL_NAME = re.compile(r"[a-z0-9_\-]+")
# Tier 1 for apps outside the Marketplace (the slack_tier1_history switch).
TIER1_METHODS = ("conversations.history", "conversations.replies")
TIER1_WINDOW_SECONDS, TIER1_LIMIT = 60.0, 15


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("1", "true")


def _visible_channel(st: SlackState, ref: Any, by_name: bool = False) -> Record:
    ref = str(ref or "").strip()
    found = st.channels.get(ref)
    if found is None and by_name:
        name = ref.removeprefix("#")
        found = next((c for c in st.channels.values() if c["name"] == name), None)
    if found is None or (found["is_private"] and st.bot_user not in found["members"]):
        raise SlackError("channel_not_found")
    return found


def auth_test(st: SlackState, p: Params) -> Params:
    bot = st.users[st.bot_user]
    return {
        "url": f"https://{st.team['domain']}.slack.com/",
        "team": st.team["name"],
        "user": bot["name"],
        "team_id": st.team["id"],
        "user_id": bot["id"],
        "bot_id": "B0001",
        "is_enterprise_install": False,
    }


def chat_post_message(st: SlackState, p: Params) -> Params:
    chan = _visible_channel(st, p.get("channel"), by_name=True)
    text, blocks = p.get("text") or "", p.get("blocks")
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except ValueError as exc:
            raise SlackError("invalid_blocks_format") from exc
    if blocks is not None and not (
        isinstance(blocks, list) and all(isinstance(b, dict) and "type" in b for b in blocks)
    ):
        raise SlackError("invalid_blocks")
    if not text and not blocks and not p.get("attachments"):
        raise SlackError("no_text")
    if len(text) > 40_000:
        raise SlackError("msg_too_long")
    if chan["is_archived"]:
        raise SlackError("is_archived")
    st.last_ts_us = max(st.last_ts_us + 1, time.time_ns() // 1000)
    msg: Record = {"ts": st.last_ts_us, "user": st.bot_user, "text": text}
    if blocks:
        msg["blocks"] = blocks
    if p.get("thread_ts"):
        msg["thread_ts"] = parse_ts(str(p["thread_ts"]), "invalid_thread_ts")
        msg["broadcast"] = _truthy(p.get("reply_broadcast"))
    if p.get("metadata"):
        msg["metadata"] = _metadata(p["metadata"])
    st.messages[chan["id"]].append(msg)
    rendered = render_message(st, chan["id"], msg, with_replies=False)
    return {"channel": chan["id"], "ts": fmt_ts(msg["ts"]), "message": rendered}


def conversations_list(st: SlackState, p: Params) -> Params:
    types = set(str(p.get("types") or "public_channel").split(","))
    wanted = [
        c
        for c in st.channels.values()
        if ("private_channel" if c["is_private"] else "public_channel") in types
        and (not c["is_private"] or st.bot_user in c["members"])
        and not (c["is_archived"] and _truthy(p.get("exclude_archived")))
    ]
    chunk, meta = page_by_id(wanted, p, "team", limit_arg(p, 100, 1000))
    return {"channels": [render_channel(st, c) for c in chunk], "response_metadata": meta}


def conversations_create(st: SlackState, p: Params) -> Params:
    name = str(p.get("name") or "")
    if not name:
        raise SlackError("invalid_name_required")
    if len(name) > 80:
        raise SlackError("invalid_name_maxlength")
    if not CHANNEL_NAME.fullmatch(name):
        raise SlackError("invalid_name_specials")
    if not re.search(r"[a-z0-9]", name):
        raise SlackError("invalid_name_punctuation")
    if any(c["name"] == name for c in st.channels.values()):
        raise SlackError("name_taken")
    st.next_channel += 1
    cid = f"C{st.next_channel:04d}"
    st.channels[cid] = {
        "id": cid,
        "name": name,
        "is_private": _truthy(p.get("is_private")),
        "is_archived": False,
        "is_general": False,
        "created": int(time.time()),
        "creator": st.bot_user,
        "members": [st.bot_user],
        "topic": "",
        "purpose": "",
    }
    st.messages[cid] = []
    return {"channel": render_channel(st, st.channels[cid])}


def _metadata(raw: Any) -> Record:
    """``metadata`` as chat.postMessage takes it: a JSON object (or its text) with
    ``event_type`` and ``event_payload``."""
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError as exc:
        raise SlackError("invalid_metadata_format") from exc
    if not isinstance(value, dict) or not isinstance(value.get("event_type"), str):
        raise SlackError("invalid_metadata_schema")
    return {"event_type": value["event_type"], "event_payload": value.get("event_payload") or {}}


def _history_scope(st: SlackState, chan: Record) -> None:
    needed = "groups:history" if chan.get("is_private") else "channels:history"
    if needed in st.missing_scopes:
        raise SlackError("missing_scope", needed=needed, provided=slack_scopes(st))


def _with_metadata(st: SlackState, chan_id: str, m: Record, p: Params) -> Params:
    rendered = render_message(st, chan_id, m)
    if m.get("metadata") and _truthy(p.get("include_all_metadata")):
        rendered["metadata"] = m["metadata"]
    return rendered


def conversations_history(st: SlackState, p: Params) -> Params:
    chan = _visible_channel(st, p.get("channel"))
    _history_scope(st, chan)
    inclusive = _truthy(p.get("inclusive"))
    oldest = parse_ts(str(p.get("oldest") or "0"), "invalid_ts_oldest")
    latest = parse_ts(str(p.get("latest") or "9999999999"), "invalid_ts_latest")
    start = read_cursor(p, "next_ts")
    upper = int(start) if start is not None and start.isdigit() else latest
    # Thread replies stay out of history (unless broadcast), exactly as on Slack.
    top = [
        m
        for m in reversed(st.messages[chan["id"]])
        if (m.get("thread_ts") in (None, m["ts"]) or m.get("broadcast"))
        and (oldest <= m["ts"] if inclusive else oldest < m["ts"])
        and (m["ts"] <= latest if inclusive else m["ts"] < latest)
        and m["ts"] <= upper
    ]
    limit = limit_arg(p, 100, 999)
    chunk, more = top[:limit], len(top) > limit
    return {
        "messages": [_with_metadata(st, chan["id"], m, p) for m in chunk],
        "has_more": more,
        "pin_count": 0,
        "channel_actions_ts": None,
        "channel_actions_count": 0,
        "response_metadata": next_cursor("next_ts", str(top[limit]["ts"]) if more else None),
    }


def conversations_replies(st: SlackState, p: Params) -> Params:
    chan = _visible_channel(st, p.get("channel"))
    _history_scope(st, chan)
    parent = parse_ts(str(p.get("ts") or ""), "thread_not_found")
    oldest = parse_ts(str(p.get("oldest") or "0"), "invalid_ts_oldest")
    thread = [
        m
        for m in st.messages[chan["id"]]
        if (m["ts"] == parent or m.get("thread_ts") == parent)
        and (m["ts"] == parent or m["ts"] >= oldest)
    ]
    if not thread:
        raise SlackError("thread_not_found")
    chunk, meta = page_by_id(
        [{**m, "id": str(m["ts"])} for m in thread], p, "next_ts", limit_arg(p, 1000, 1000)
    )
    return {
        "messages": [_with_metadata(st, chan["id"], m, p) for m in chunk],
        "has_more": bool(meta["next_cursor"]),
        "response_metadata": meta,
    }


def conversations_info(st: SlackState, p: Params) -> Params:
    return {"channel": render_channel(st, _visible_channel(st, p.get("channel")))}


def users_info(st: SlackState, p: Params) -> Params:
    found = st.users.get(str(p.get("user") or ""))
    if found is None:
        raise SlackError("user_not_found")
    return {"user": render_user(st, found)}


def users_list(st: SlackState, p: Params) -> Params:
    chunk, meta = page_by_id(list(st.users.values()), p, "user", limit_arg(p, 1000, 1000))
    return {
        "members": [render_user(st, u) for u in chunk],
        "cache_ts": int(time.time()),
        "response_metadata": meta,
    }


METHODS: dict[str, Callable[[SlackState, Params], Params]] = {
    "auth.test": auth_test,
    "chat.postMessage": chat_post_message,
    "conversations.list": conversations_list,
    "conversations.create": conversations_create,
    "conversations.history": conversations_history,
    "conversations.replies": conversations_replies,
    "conversations.info": conversations_info,
    "users.info": users_info,
    "users.list": users_list,
}


class SlackApi:
    """Slack provider: ``handle`` answers a Web API call against :class:`SlackState`."""

    provider = "slack"

    def __init__(self, token: str) -> None:
        self._token = token

    @staticmethod
    def _presented(req: Request) -> str | None:
        scheme, _, value = req.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return req.json_body.get("token") or req.arg("token")

    def authenticate(self, req: Request) -> bool:
        return self._presented(req) == self._token

    def unauthorized(self, req: Request) -> Response:
        error = "not_authed" if self._presented(req) is None else "invalid_auth"
        return json_response(200, {"ok": False, "error": error})

    def fault_response(self, fault: Fault, req: Request, st: SimState) -> Response:
        if fault.unauthorized:
            return json_response(200, {"ok": False, "error": "invalid_auth"})
        status = 429 if fault.rate_limit else (fault.status or 500)
        headers = dict(fault.headers)
        if status == 429 or fault.retry_after is not None:
            retry = fault.retry_after if fault.retry_after is not None else 1
            headers.setdefault("Retry-After", retry_after_header(retry))
        body = fault.body
        if body is None:
            body = {"ok": False, "error": "ratelimited" if status == 429 else "internal_error"}
        return json_response(status, body, headers)

    def handle(self, req: Request, st: SimState) -> Response:
        method = req.path
        if req.body_error:
            return json_response(200, {"ok": False, "error": "invalid_json"})
        func = METHODS.get(method)
        if func is None:
            return json_response(
                404, {"ok": False, "error": "unknown_method", "req_method": method}
            )
        params: Params = {k: v[0] for k, v in req.query.items()}
        if isinstance(req.body, dict):
            params.update(req.body)
        params.pop("token", None)
        if st.slack.tier1_history and method in TIER1_METHODS:
            wait = _tier1_wait(st.slack, method)
            if wait:
                headers = {"Retry-After": str(math.ceil(wait))}
                return json_response(429, {"ok": False, "error": "ratelimited"}, headers)
            params["limit"] = limit_arg(params, TIER1_LIMIT, TIER1_LIMIT)
        try:
            return json_response(200, {"ok": True, **func(st.slack, params)})
        except SlackError as err:
            return json_response(200, {"ok": False, "error": str(err), **err.extra})

    def finish(self, req: Request, resp: Response, st: SimState) -> None:
        resp.default_header("X-Slack-Req-Id", uuid.uuid4().hex)
        resp.default_header("X-OAuth-Scopes", slack_scopes(st.slack))


def _tier1_wait(st: SlackState, method: str) -> float:
    """Seconds until ``method`` may be called again under Tier 1 (0: now, and counted)."""
    now = time.monotonic()
    last = st.tier1_calls.get(method)
    if last is not None and now - last < TIER1_WINDOW_SECONDS:
        return TIER1_WINDOW_SECONDS - (now - last)
    st.tier1_calls[method] = now
    return 0.0

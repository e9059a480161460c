"""Which channel a Slack post goes to, by Slack's own ID: the key of its per-channel scope.

``chat.postMessage`` takes a channel by ID or by name, and ``C0001``, ``#general``
and ``general`` are one channel: its ``slack-channel`` scope (about one message a
second per channel) is keyed by the ID, however the agent wrote it, so the three
share one budget. An ID is its own key. A name is looked up in a map the whole
fleet shares in Redis (``fleet:gov:names:slack:<credential>``, name → ID, kept
:data:`CACHE_SECONDS` after its last use), which is filled two ways:

- each post by name: Slack answers with the ID it posted to (:func:`remember`), so
  a renamed or new channel is right from its first post on;
- paging ``conversations.list`` when a name is missing, at most once per credential
  every :data:`REFRESH_SECONDS` across the fleet (the threads of one worker wait
  for the one listing, at most :data:`LIST_SECONDS`), each page admitted by the
  governor on the listing's Tier 2 scope and stopped, not waited for, when that
  is spent or Slack refuses.

A name still unknown (Slack does not know it, its listing is under way in another
worker, Slack is down) is keyed by the name without its ``#``: working out the key
never fails or delays a post, and Slack itself says whether the channel exists.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Mapping
from typing import Any

from worker.fleet_redis import fleet_redis
from worker.settings import get_settings

logger = logging.getLogger(__name__)

CHANNEL_ID = r"[CGD][A-Z0-9]{2,20}"  # as tasks.slack declares it
CACHE_SECONDS = 3600  # a name → ID kept this long after it was last listed or posted to
REFRESH_SECONDS = 300  # at most one listing per credential in this long, fleet-wide
LIST_SECONDS = 10.0  # a listing stops after this long (its pages so far are kept)
LIST_PAGE = 1000  # conversations.list's largest page
LIST_PAGES = 20  # a workspace of more channels keys the rest by name until posted to
LIST_SCOPE = "slack-tier2:{credential}:conversations.list"
# Private channels need groups:read, which many bots lack: then public ones alone.
LIST_TYPES = ("public_channel,private_channel", "public_channel")
LISTING_RUN = "slack-channel-names"  # who the governor sees taking the listing's budget

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def names_key(credential: str) -> str:
    from worker.runtime.governor.governor import PREFIX

    return f"{PREFIX}names:slack:{credential}"


def channel_scope(params: Any, credential: str) -> Mapping[str, str]:
    """``{"channel_id": ...}`` for ``slack.post_message``'s scope (never raises)."""
    channel = str(params.channel)
    if re.fullmatch(CHANNEL_ID, channel):
        return {"channel_id": channel}
    name = channel.removeprefix("#")
    try:
        return {"channel_id": _resolve(name, credential) or name}
    except Exception:  # a scope key must never cost the post
        logger.warning("slack: channel %r not resolved to an ID", name, exc_info=True)
        return {"channel_id": name}


def remember(channel: str, channel_id: str, credential: str) -> None:
    """What a post to ``channel`` (a name) answered: its ID (never raises: it was posted)."""
    if re.fullmatch(CHANNEL_ID, channel) or not re.fullmatch(CHANNEL_ID, channel_id):
        return
    try:
        key = names_key(credential)
        pipe = fleet_redis().pipeline(transaction=False)
        pipe.hset(key, channel.removeprefix("#"), channel_id)
        pipe.expire(key, CACHE_SECONDS)
        pipe.execute()
    except Exception:  # the message is posted: nothing here may fail the run
        logger.warning("slack: could not remember the ID of %r", channel, exc_info=True)


def _resolve(name: str, credential: str) -> str | None:
    client, key = fleet_redis(), names_key(credential)
    found = client.hget(key, name)
    if found is None:
        lock = _lock(credential)  # this worker's threads: one listing, then all read it
        if not lock.acquire(timeout=LIST_SECONDS + get_settings().provider_timeout_seconds):
            return None
        try:
            found = client.hget(key, name)
            if found is None and client.set(f"{key}:listed", 1, nx=True, ex=REFRESH_SECONDS):
                _list_names(client, key, credential)
                found = client.hget(key, name)
        finally:
            lock.release()
    return found.decode() if found is not None else None


def _lock(credential: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(credential, threading.Lock())


def _list_names(client: Any, key: str, credential: str) -> None:
    """Page ``conversations.list`` into the map, each page admitted by the governor."""
    from tasks.slack.client import make_client
    from tasks.slack.errors import map_error
    from worker.runtime import governor

    settings = get_settings()
    slack = make_client(settings, credential)
    scope = LIST_SCOPE.format(credential=credential)
    names: dict[str, str] = {}
    cursor, types = None, list(LIST_TYPES)
    stop = time.monotonic() + LIST_SECONDS
    for _ in range(LIST_PAGES):
        if time.monotonic() > stop:
            break
        budget = governor.budgets([scope], _limits(), settings.rate_limits)
        grant = governor.get_governor().acquire(budget, "slack", run_id=LISTING_RUN)
        if not grant.admitted:
            break
        args = {"types": types[0], "exclude_archived": True, "limit": LIST_PAGE}
        try:
            data = slack.conversations_list(**args, **({"cursor": cursor} if cursor else {})).data
        except Exception as exc:  # noqa: BLE001 — classified by the one Slack mapper
            error = map_error(exc)
            governor.learn(grant, error, {})
            if error.details.get("code") == "missing_scope" and len(types) > 1 and not cursor:
                types.pop(0)
                continue
            logger.warning("slack: channel names not listed: %s", error)
            break
        names |= {c["name"]: c["id"] for c in data.get("channels") or [] if c.get("name")}
        cursor = (data.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            break
    if names:
        pipe = client.pipeline()
        pipe.hset(key, mapping=names)
        pipe.expire(key, CACHE_SECONDS)
        pipe.execute()


def _limits() -> Mapping[str, Any]:
    from tasks.slack import DECLARATION

    return DECLARATION.limits

"""Dead workers' messages back on their queues in seconds, not after the visibility timeout.

kombu's Redis transport keeps each delivered, unacknowledged message in its
``unacked`` hash and gives it back only when the visibility timeout (an
hour by default) has passed: a SIGKILLed worker's calls sit that long. Here
each worker process also

- names itself in each entry it adds to kombu's ``unacked_index`` (the
  member is ``<worker>|<delivery tag>``: :func:`held_by`, written by the
  transport's QoS in place of the bare tag, so tracking costs no command), and
- beats in :data:`HEARTBEATS_KEY` (score: Redis' clock) from its upkeep
  thread, which keeps beating while the worker's threads run long calls.

A worker whose beat is older than ``FLEET_HEARTBEAT_TIMEOUT_SECONDS`` is
dead: the first living worker to notice claims it (a Lua script removes its
beat and lists its index entries atomically, so exactly one claimer gets
them) and restores each still-unacknowledged message with kombu's
transactional restore. The visibility timeout stays as the last resort, and only
for what no living worker holds (a claimer that died mid-way, a message held by a
process without a heartbeat): a long call on a live worker is never restored
under it, so never executed twice (worker.broker.transport.FleetQoS).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from typing import Any

logger = logging.getLogger(__name__)

HEARTBEATS_KEY = "fleet:workers:heartbeats"
HOLDER_SEPARATOR = "|"  # in no worker name (host:pid:hex) and no delivery tag (a uuid)

_BEAT = """
local now = redis.call('TIME')
redis.call('ZADD', KEYS[1], now[1] + now[2] / 1e6, ARGV[1])
"""
# Beats older than ARGV[1] seconds, by Redis' clock.
_DEAD = """
local now = redis.call('TIME')
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now[1] + now[2] / 1e6 - ARGV[1])
"""
# Beats not older than ARGV[1] seconds, by Redis' clock: the living.
_LIVING = """
local now = redis.call('TIME')
return redis.call('ZRANGEBYSCORE', KEYS[1], now[1] + now[2] / 1e6 - ARGV[1], '+inf')
"""
# Claim one dead worker: only if its beat is still old (it did not come back, and no
# other process claimed it first); the index entries it holds go to the caller alone.
# The index holds what is in flight fleet-wide (not what waits on queues): small.
_CLAIM = """
local now = redis.call('TIME')
local beat = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not beat or now[1] + now[2] / 1e6 - tonumber(beat) < tonumber(ARGV[2]) then
  return false
end
redis.call('ZREM', KEYS[1], ARGV[1])
local prefix = ARGV[1] .. ARGV[3]
local held = {}
for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if string.sub(member, 1, #prefix) == prefix then
    held[#held + 1] = member
  end
end
return held
"""

_identity: str | None = None


def identity() -> str | None:
    """This process's name among the fleet's workers, once it has joined (else None)."""
    return _identity


def held_by(worker: str | None, delivery_tag: str) -> str:
    """The ``unacked_index`` member for a tag held by ``worker`` (untracked: the bare tag)."""
    return f"{worker}{HOLDER_SEPARATOR}{delivery_tag}" if worker else delivery_tag


def tag_of(member: str) -> str:
    """The delivery tag in an ``unacked_index`` member (a bare tag: itself)."""
    return member.rpartition(HOLDER_SEPARATOR)[2]


def join(client: Any) -> str:
    """Make this process a tracked worker: a name and a first beat."""
    global _identity
    _identity = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    beat(client)
    return _identity


def beat(client: Any) -> None:
    if _identity is not None:
        client.eval(_BEAT, 1, HEARTBEATS_KEY, _identity)


def give_back(channel: Any) -> int:
    """At a clean exit, once running calls have finished: put what this process still
    holds (received, never started) back on its queues. kombu restores these when its
    channel closes, but a stopping worker exits before that; left alone they would wait
    for the visibility timeout. Returns how many."""
    if _identity is None:
        return 0
    client, qos = channel.client, channel.qos
    prefix = f"{_identity}{HOLDER_SEPARATOR}"
    members = [m for m in map(_text, client.zrange(qos.unacked_index_key, 0, -1))
               if m.startswith(prefix)]  # fmt: skip
    for member in members:
        qos.restore_by_tag(member, client=client)  # WATCHed: at most once
    if members:
        logger.info("%d message(s) received but not started put back on their queues", len(members))
    return len(members)


def leave(client: Any) -> None:
    """A clean exit: forget this process's heartbeat (after :func:`give_back`)."""
    global _identity
    if _identity is not None:
        client.zrem(HEARTBEATS_KEY, _identity)
        _identity = None


def living_workers(client: Any, timeout: float) -> set[str]:
    """Workers that beat within the last ``timeout`` seconds."""
    return {_text(name) for name in client.eval(_LIVING, 1, HEARTBEATS_KEY, timeout)}


def holder_of(member: str) -> str | None:
    """The worker named in an ``unacked_index`` member (a bare tag: None)."""
    worker, separator, _ = member.rpartition(HOLDER_SEPARATOR)
    return worker if separator else None


def dead_workers(client: Any, timeout: float) -> list[str]:
    """Workers whose last beat is older than ``timeout`` seconds."""
    return [_text(name) for name in client.eval(_DEAD, 1, HEARTBEATS_KEY, timeout)]


def claim(client: Any, index_key: str, worker: str, timeout: float) -> list[str] | None:
    """The dead worker's ``unacked_index`` members, to this caller only (None: not dead,
    or claimed by another process already)."""
    held = client.eval(_CLAIM, 2, HEARTBEATS_KEY, index_key, worker, timeout, HOLDER_SEPARATOR)
    return None if held is None else [_text(member) for member in held]


def recover(channel: Any, timeout: float) -> int:
    """Claim every dead worker and restore its unacknowledged messages to their queues
    (``channel``: a kombu Redis channel of this process's own). Returns how many."""
    client, qos = channel.client, channel.qos
    restored = 0
    for worker in dead_workers(client, timeout):
        members = claim(client, qos.unacked_index_key, worker, timeout)
        if not members:
            continue
        held = [m for m in members if client.hexists(channel.unacked_key, tag_of(m))]
        for member in members:
            qos.restore_by_tag(member, client=client)  # WATCHed: at most once
        restored += len(held)
        logger.warning(
            "worker %s stopped beating: %d message(s) it held restored to their queues",
            worker, len(held),
        )  # fmt: skip
    return restored


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

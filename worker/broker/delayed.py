"""Delayed delivery: messages with a future ETA wait in a Redis sorted set, not in a worker.

Stock Celery publishes a retry's or a park's countdown as an ETA message
that a worker receives at once and holds, unacknowledged, until it is due:
it occupies worker memory, and if the worker dies it comes back only when
the visibility timeout passes (so every countdown had to stay below it).
Here the transport's publish puts a message due more than
:data:`HOLD_SECONDS` ahead in :data:`DELAYED_KEY`, scored by its due time,
and :func:`move_due` (every worker's upkeep ticks it; a Lua script, so
whichever process ticks first moves each message exactly once) pushes
messages onto their queue just before they are due (:data:`LEAD_SECONDS`),
where a worker receives them and starts them on time.

Messages published by other Celery clients with a countdown keep working as
in stock Celery (a worker holds them until due).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

DELAYED_KEY = "fleet:delayed"
# Sooner than this, a worker may as well hold it: not worth a trip through the set.
HOLD_SECONDS = 2.0
# Moved this much before it is due: the message keeps its ETA, so the worker that
# receives it holds it for that last moment and it starts on time, not a tick late
# (a parked call back late would only park again).
LEAD_SECONDS = 1.0
MOVE_BATCH = 500

# Due members (``[list key, payload]``) → their list; TIME keeps every host on
# Redis' clock. ZREM first: only the process that removed a member pushes it.
_MOVE_DUE = """
local now = redis.call('TIME')
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf',
                       now[1] + now[2] / 1e6 + tonumber(ARGV[2]), 'LIMIT', 0, tonumber(ARGV[1]))
local moved = 0
for _, member in ipairs(due) do
  if redis.call('ZREM', KEYS[1], member) == 1 then
    local entry = cjson.decode(member)
    redis.call('LPUSH', entry[1], entry[2])
    moved = moved + 1
  end
end
return moved
"""


def due_at(message: dict[str, Any]) -> float | None:
    """The epoch second a message's ETA header names, or None (no ETA, or unreadable)."""
    eta = (message.get("headers") or {}).get("eta")
    if not isinstance(eta, str):
        return None
    try:
        when = datetime.fromisoformat(eta)
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def hold(client: Any, list_key: str, payload: str, due: float) -> None:
    """Keep a serialized message for ``list_key`` until ``due`` (epoch seconds)."""
    client.zadd(DELAYED_KEY, {json.dumps([list_key, payload]): due})


def move_due(client: Any, batch: int = MOVE_BATCH, lead: float = LEAD_SECONDS) -> int:
    """Push every message due within ``lead`` seconds onto its queue; returns how many
    this call moved."""
    return int(client.eval(_MOVE_DUE, 1, DELAYED_KEY, batch, lead))


def waiting(client: Any) -> dict[str, Any]:
    """How many messages wait, and the first and last due times (epoch seconds)."""
    count = int(client.zcard(DELAYED_KEY))
    first = client.zrange(DELAYED_KEY, 0, 0, withscores=True)
    last = client.zrange(DELAYED_KEY, -1, -1, withscores=True)
    return {
        "count": count,
        "next_due": first[0][1] if first else None,
        "last_due": last[0][1] if last else None,
    }

"""The fleet's Redis (the broker's), one client per process, for the fleet's own keys.

The ledger outbox, run telemetry, completion events and the operator's views
all keep small keys beside the broker's queues. One pooled client per
process, re-made in a forked child (a socket must not be shared across a
fork). Reads that block (``XREAD BLOCK``) make a client of their own: a
blocking call holds its connection.
"""

from __future__ import annotations

import os
import threading
from typing import Any

_lock = threading.Lock()
_client: tuple[int, Any] | None = None
SOCKET_TIMEOUT_SECONDS = 5.0


def fleet_redis() -> Any:
    """This process's client on ``FLEET_BROKER_URL`` (a ``redis.Redis``)."""
    global _client
    with _lock:
        if _client is None or _client[0] != os.getpid():
            _client = (os.getpid(), new_client())
        return _client[1]


def new_client(socket_timeout: float | None = SOCKET_TIMEOUT_SECONDS) -> Any:
    """A client of its own (for blocking reads, or a process's own governor)."""
    import redis

    from worker.settings import get_settings

    return redis.Redis.from_url(get_settings().broker_url, socket_timeout=socket_timeout)

"""What the broker and the workers say right now: queue depths, who consumes what.

Shared by ``fleet status``, ``fleet doctor`` and the metrics exporter.
"""

from __future__ import annotations

from typing import Any

from worker.queues import WATCHED_QUEUES


def queue_depths(app: Any) -> dict[str, int]:
    """Messages waiting in each of the fleet's queues, in one pipelined round trip.

    kombu's Redis transport keeps a message published with a priority in a
    sibling list per priority step (``<queue>`` + separator + ``3``): those count too.
    """
    with app.connection_for_read() as conn:
        channel = conn.default_channel
        steps = list(channel.priority_steps)
        client = channel.client
        prefix = channel.global_keyprefix or ""
        pipe = client.pipeline(transaction=False)
        for queue in WATCHED_QUEUES:
            for step in steps:
                pipe.llen(prefix + channel._q_for_pri(queue, step))
        lengths = iter(pipe.execute())
    return {queue: sum(next(lengths) for _ in steps) for queue in WATCHED_QUEUES}


def workers_by_queue(app: Any, timeout: float = 1.0) -> dict[str, list[str]]:
    """Queue → hostnames of the workers consuming it that answered within ``timeout``
    (an empty list for a queue nobody consumes)."""
    replies = app.control.inspect(timeout=timeout).active_queues() or {}
    consumers: dict[str, list[str]] = {queue: [] for queue in WATCHED_QUEUES}
    for hostname, queues in sorted(replies.items()):
        for queue in queues or []:
            consumers.setdefault(queue["name"], []).append(hostname)
    return consumers

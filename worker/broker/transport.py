"""kombu's Redis transport, hardened against garbage, worker death and long countdowns.

- A list item that is not a kombu envelope (``LPUSH http "not json"``) makes
  the stock transport raise inside the worker's event loop, which kills the
  worker. This one catches exactly those two failures — the item is not
  JSON, or is JSON but not an envelope — and keeps the raw item as a dead
  letter instead. The item was already popped, so nothing is left to ack.
- A worker process marks the messages it holds as its own (:class:`FleetQoS`:
  its name prefixes their entries in kombu's ``unacked_index``), so the
  living can give a dead worker's messages back at once
  (worker.broker.recovery), at no extra command per message. kombu's own
  sweep of messages unacknowledged past the visibility timeout restores
  only those no living worker holds: a call still running on a live worker
  (a provider slower than the visibility timeout) is not delivered again.
- A message due later waits in a sorted set, not in a worker
  (worker.broker.delayed).
- Cheaper per message: one Redis client per channel for publishing (kombu
  builds a new one per publish, ~7% of a busy worker's time on task events
  alone), and a delivery's bookkeeping (hash and index) sent as one pipelined
  batch without MULTI/EXEC: the batch reaches Redis in one write and runs in
  order, and restores stay transactional.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from time import time
from typing import Any

from kombu.transport import redis
from kombu.transport.redis import Mutex, MutexHeld
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import dumps, loads

from worker.broker.delayed import HOLD_SECONDS, due_at, hold
from worker.broker.recovery import held_by, holder_of, identity, living_workers, tag_of


class MalformedEnvelope(ValueError):
    """A queue item that parsed as JSON but is not a kombu message."""

    def __init__(self, payload: Any, reason: Exception) -> None:
        super().__init__(f"not a message envelope: {type(reason).__name__}: {reason}")
        self.payload = payload


class GuardedMessage(redis.Channel.Message):
    def __init__(self, payload: Any, channel: Any = None, **kwargs: Any) -> None:
        try:
            super().__init__(payload, channel=channel, **kwargs)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MalformedEnvelope(payload, exc) from exc


class FleetQoS(redis.QoS):
    """kombu's ack emulation, with each ``unacked_index`` entry naming its holder.

    The hash ``unacked`` stays keyed by delivery tag (kombu's format); the index
    member is ``<worker>|<tag>`` (worker.broker.recovery.held_by), remembered
    per tag so the ack removes exactly what the delivery added.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._members: dict[str, str] = {}

    def append(self, message: Any, delivery_tag: str) -> None:
        member = held_by(identity(), delivery_tag)
        self._members[delivery_tag] = member
        delivery = message.delivery_info
        raw = dumps([message._raw, delivery["exchange"], delivery["routing_key"]])
        with self.pipe_or_acquire() as pipe:
            pipe.zadd(self.unacked_index_key, {member: time()})
            pipe.hset(self.unacked_key, delivery_tag, raw)
            pipe.execute()

    @contextmanager
    def pipe_or_acquire(self, pipe: Any = None, client: Any = None) -> Iterator[Any]:
        if pipe is not None:
            yield pipe
        else:
            with self.channel.conn_or_acquire(client) as conn:
                yield conn.pipeline(transaction=False)

    def _remove_from_indices(self, delivery_tag: str, pipe: Any = None) -> Any:
        """``delivery_tag``: a tag this process holds, or an index member (a restore)."""
        tag = tag_of(delivery_tag)
        member = self._members.pop(tag, None) or delivery_tag
        with self.pipe_or_acquire(pipe) as batch:
            return batch.zrem(self.unacked_index_key, member).hdel(self.unacked_key, tag)

    def restore_by_tag(self, tag: str, client: Any = None, leftmost: bool = False) -> None:
        """kombu's transactional restore (WATCH on the hash: at most once), taking an
        index member as well as a tag."""

        def restore(pipe: Any) -> None:
            raw = pipe.hget(self.unacked_key, tag_of(tag))
            pipe.multi()
            self._remove_from_indices(tag, pipe)
            if raw:
                message, exchange, routing_key = loads(bytes_to_str(raw))
                self.channel._do_restore_message(message, exchange, routing_key, pipe, leftmost)

        with self.channel.conn_or_acquire(client) as conn:
            conn.transaction(restore, self.unacked_key)

    def restore_visible(self, start: int = 0, num: int = 10, interval: int = 10) -> None:
        """kombu's sweep of messages unacknowledged past the visibility timeout (same
        throttle, same mutex), restoring only those whose holder no longer beats."""
        self._vrestore_count += 1
        if (self._vrestore_count - 1) % (interval or 1):
            return
        from worker.settings import get_settings  # late: the transport loads before settings

        timeout = get_settings().heartbeat_timeout_seconds
        with self.channel.conn_or_acquire() as client:
            ceil = time() - self.visibility_timeout
            try:
                with Mutex(client, self.unacked_mutex_key, self.unacked_mutex_expire):
                    # All of them, not kombu's first ``num``: the oldest may all be live
                    # calls, which must not hide a dead holder's message behind them.
                    visible = client.zrange(
                        self.unacked_index_key, ceil, 0, desc=True, byscore=True
                    )
                    if not visible:
                        return
                    living = living_workers(client, timeout)
                    for raw in visible:
                        member = bytes_to_str(raw)
                        if holder_of(member) not in living:
                            self.restore_by_tag(member, client)
            except MutexHeld:
                pass


class Channel(redis.Channel):
    Message = GuardedMessage
    QoS = FleetQoS

    @cached_property
    def _publishing_client(self) -> Any:
        return self._create_client()

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        # The client is thread-safe (it borrows a connection from the channel's pool
        # per command), so one serves every publish of this channel.
        yield client or self._publishing_client

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        due = due_at(message)
        if due is None or due - time() < HOLD_SECONDS:
            return super()._put(queue, message, **kwargs)
        kwargs.pop("_publish_batch", None)
        key = self._q_for_pri(queue, self._get_message_priority(message, reverse=False))
        with self.conn_or_acquire() as client:
            hold(client, key, dumps(message), due)

    def _brpop_read(self, **options: Any) -> bool:
        return self._guarded(super()._brpop_read, **options)

    def _get(self, queue: str) -> Any:
        return self._guarded(super()._get, queue)

    def _guarded(self, read: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return read(*args, **kwargs)
        except UnicodeDecodeError as exc:
            raw, reason = repr(exc.object), f"not UTF-8: {exc}"
        except json.JSONDecodeError as exc:
            raw, reason = exc.doc, f"not JSON: {exc}"
        except MalformedEnvelope as exc:
            raw, reason = json.dumps(exc.payload, default=repr), str(exc)
        from worker.broker.intake import bury_unreadable  # late: keeps kombu import light

        bury_unreadable(raw, reason, queues=list(self.active_queues))
        return True  # the item is consumed; carry on polling


class Transport(redis.Transport):
    Channel = Channel

"""kombu's Redis transport, hardened against garbage on a queue.

A list item that is not a kombu envelope (``LPUSH http "not json"``) makes
the stock transport raise inside the worker's event loop, which kills the
worker. This subclass catches exactly those two failures — the item is not
JSON, or is JSON but not an envelope — and keeps the raw item as a dead
letter instead. The item was already popped, so nothing is left to ack.
"""

from __future__ import annotations

import json
from typing import Any

from kombu.transport import redis


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


class Channel(redis.Channel):
    Message = GuardedMessage

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

"""``task-sent`` events in batches: one PUBLISH per burst of calls, not one per call.

Celery publishes a call's ``task-sent`` event (what Flower shows until a worker
takes the call) right after the call itself: a second Redis command for every
call. The fleet's app hands them to :class:`BatchedSentEvents` instead, which
sends what gathered over :data:`FLUSH_SECONDS` as one message, the way workers
send their own events (worker.broker.intake); Flower and Celery's event
receivers read such a list as they read a worker's. A thread of its own
publishes, on a connection of its own, and whatever is left is sent when the
process exits, so a one-shot ``fleet call`` loses nothing.

Events stay best effort, as in Celery: a batch the broker refuses is dropped
with a log line (the call's ``queued`` row in the ledger is its record).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
from typing import Any

from celery.events.dispatcher import EventDispatcher
from celery.events.event import Event
from kombu import Producer

logger = logging.getLogger(__name__)
FLUSH_SECONDS = 0.05
# A failed send is tried again once, on a fresh connection, then dropped: a
# publisher never waits on events.
SEND_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


class BatchedSentEvents(EventDispatcher):
    """The app's dispatcher for the events it publishes beside its messages
    (``task-sent``): buffered, then flushed by a thread every :data:`FLUSH_SECONDS`."""

    def __init__(self, *args: Any, flush_seconds: float = FLUSH_SECONDS, **kwargs: Any) -> None:
        super().__init__(*args, enabled=False, buffer_while_offline=False, **kwargs)
        self.flush_seconds = flush_seconds
        self._reset()
        os.register_at_fork(after_in_child=self._reset)
        atexit.register(self.flush_pending)

    def _reset(self) -> None:
        """Fresh state: when made, and in a forked child (the parent's pending events,
        locks, thread and connection stay the parent's)."""
        self._pending: list[Event] = []
        self._wake = threading.Condition()
        self._send_lock = threading.Lock()  # the flusher and the exit flush share a connection
        self._connection: Any = None
        self._flusher: threading.Thread | None = None

    def publish(self, type: str, fields: dict[str, Any], producer: Any, **options: Any) -> None:
        """Celery's call for each ``task-sent``: the event is queued, not published."""
        blind = options.get("blind", False)
        event = self._prepare_event(type, fields, blind=blind, Event=options.get("Event", Event))
        with self._wake:
            if self._flusher is None:
                self._flusher = threading.Thread(
                    target=self._flush_forever, name="task-sent events", daemon=True
                )
                self._flusher.start()
            self._pending.append(event)
            if len(self._pending) == 1:
                self._wake.notify()

    def flush_pending(self) -> int:
        """Send what is pending now (the thread's tick, and the exit); how many were sent."""
        with self._send_lock:
            with self._wake:
                batch, self._pending = self._pending, []
            if not batch:
                return 0
            try:
                if self._connection is None:
                    self._connection = self.app.connection_for_write()
                producer = Producer(self._connection, auto_declare=False)
                self._publish(batch, producer, "task.multi", retry=True, retry_policy=SEND_RETRY)
            except Exception as exc:  # noqa: BLE001 — events are best effort; calls are not
                logger.warning("%d task-sent event(s) not sent: %s", len(batch), exc)
                self._drop_connection()
                return 0
            return len(batch)

    def _flush_forever(self) -> None:
        while True:
            with self._wake:
                while not self._pending:
                    self._wake.wait()
            time.sleep(self.flush_seconds)  # let a burst gather
            self.flush_pending()

    def _drop_connection(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):  # it is being thrown away
                self._connection.close()
        self._connection = None

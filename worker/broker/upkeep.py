"""A worker process's background duties toward the broker, on one daemon thread.

Every :data:`TICK_SECONDS`: move delayed messages about to be due onto their queues
(worker.broker.delayed). Every heartbeat interval (a sixth of
``FLEET_HEARTBEAT_TIMEOUT_SECONDS``): beat, then give back the messages of
workers that stopped beating (worker.broker.recovery). The thread has its
own broker connection (a kombu channel is not shared across threads) and
survives a broker outage: it logs and tries again on the next tick.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from worker.broker.delayed import move_due
from worker.broker.recovery import beat, give_back, join, leave, recover

logger = logging.getLogger(__name__)
TICK_SECONDS = 0.25


class Upkeep:
    def __init__(self, app: Any, heartbeat_timeout: float) -> None:
        self.app = app
        self.timeout = heartbeat_timeout
        self.every = heartbeat_timeout / 6
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fleet-upkeep", daemon=True)

    def start(self) -> None:
        with self.app.connection_for_write() as conn:
            join(conn.default_channel.client)
        self._thread.start()

    def stop(self) -> None:
        """A clean exit (running calls have finished): stop ticking, give back what was
        received but never started, then leave the heartbeat set."""
        self._stop.set()
        self._thread.join(5)
        try:
            with self.app.connection_for_write() as conn:
                give_back(conn.default_channel)
                leave(conn.default_channel.client)
        except Exception as exc:  # noqa: BLE001 — the beat then expires on its own
            logger.warning("could not leave the heartbeat set: %s", exc)

    def _run(self) -> None:
        conn, next_beat = None, 0.0
        while not self._stop.wait(TICK_SECONDS):
            try:
                if conn is None:
                    conn = self.app.connection_for_write()
                channel = conn.default_channel
                move_due(channel.client)
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + self.every
                    beat(channel.client)
                    recover(channel, self.timeout)
            except Exception as exc:  # noqa: BLE001 — the broker may be away for a while
                logger.warning("broker upkeep: %s (trying again)", exc)
                if conn is not None:
                    conn.release()
                conn = None
        if conn is not None:
            conn.release()

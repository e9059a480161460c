"""Bounded thread use for the MCP server's blocking work, one bound per kind of work.

What the server waits on is synchronous: a call's result (Celery's result backend is
thread-local, so a call is published, waited on and released by one thread), the ledger
(SQLAlchemy) and the events stream (a blocking ``XREAD``). Each runs in a worker thread.
Left to anyio, every such thread comes from one limiter of 40: forty long waits, and a
``fleet__get_run`` or a new call queues behind them for as long as they last. So each
kind has a lane of its own:

- ``calls``: a ``tools/call`` waiting for its result (up to ``FLEET_MCP_WAIT_SECONDS``),
  ``FLEET_MCP_MAX_WAITS`` at once. A call beyond that is not refused: it is published in
  the reads lane and answered at once with its run id, as a call that outlived its wait.
- ``polls``: event long polls (``fleet__events`` and ``/events`` with a ``wait``),
  ``FLEET_MCP_MAX_WAITS`` at once. One beyond that is :class:`Busy` at once (``/events``
  answers 503 with ``Retry-After``; the tool a retryable error): queued, it would wait
  behind polls that may each last 30 s.
- ``reads``: the quick work (``fleet__get_run``, a page of events without a wait,
  publishing), :data:`READ_THREADS` at once; a read waits up to :data:`READ_QUEUE_SECONDS`
  for a thread, then is :class:`Busy`.

The threads themselves come from a limiter sized to the lanes' sum, so a lane's bound is
the only one that bites.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio
import anyio.to_thread

READ_THREADS = 8
READ_QUEUE_SECONDS = 2.0
T = TypeVar("T")


class Busy(Exception):
    """Every thread of a lane is taken: the request may be asked again in a moment."""

    retry_after_seconds = 1


@dataclass(frozen=True)
class Lane:
    """One kind of blocking work: how many at once, and how long one may queue for it."""

    what: str  # in words, for the Busy answer
    limiter: anyio.CapacityLimiter
    queue_seconds: float = 0.0
    setting: str = "FLEET_MCP_MAX_WAITS"  # what sizes it, for the Busy answer


class Lanes:
    """The server's lanes (one set per server: the MCP tools and ``/events`` share them)."""

    def __init__(self, max_waits: int, reads: int = READ_THREADS) -> None:
        # Limiters made outside an event loop bind to the loop that first uses them.
        self.calls = Lane("calls waiting for their result", anyio.CapacityLimiter(max_waits))
        self.polls = Lane("event long polls", anyio.CapacityLimiter(max_waits))
        self.reads = Lane("quick reads", anyio.CapacityLimiter(reads), READ_QUEUE_SECONDS, "")
        self._threads = anyio.CapacityLimiter(2 * max_waits + reads)

    async def run(self, lane: Lane, work: Callable[[], T], *, abandon_on_cancel: bool = False) -> T:
        """``work()`` in a worker thread once ``lane`` has room; :class:`Busy` if it has
        none within the lane's queue time."""
        holder = object()  # a token per request: one task may hold two lanes' tokens
        try:
            lane.limiter.acquire_on_behalf_of_nowait(holder)
        except anyio.WouldBlock:
            if lane.queue_seconds <= 0:
                raise Busy(_full(lane)) from None
            with anyio.move_on_after(lane.queue_seconds) as queued:
                await lane.limiter.acquire_on_behalf_of(holder)
            if queued.cancelled_caught:
                raise Busy(_full(lane)) from None
        try:
            return await anyio.to_thread.run_sync(
                work, abandon_on_cancel=abandon_on_cancel, limiter=self._threads
            )
        finally:
            lane.limiter.release_on_behalf_of(holder)


def _full(lane: Lane) -> str:
    held = int(lane.limiter.total_tokens)
    bound = f" ({lane.setting})" if lane.setting else ""
    return f"this server already waits on {held} {lane.what}{bound}: ask again in a moment"

"""What a running tool may know about its own call (no Celery import).

The policy opens a :func:`calling` block around the provider call; inside
it, a tool function reads :func:`current_call` for its run id and attempt,
and leaves the provider's response headers there for the governor to learn
from. A run that makes several provider calls (a sync, page after page)
calls :func:`pace` before each further one: the governor admits it, or
:class:`ParkRequest` unwinds to the policy, which parks the run.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


class ParkRequest(Exception):
    """The run must wait ``wait`` seconds before its next provider call (not a failure)."""

    def __init__(self, wait: float, reason: str, headers: dict[str, Any] | None = None) -> None:
        super().__init__(f"park {wait:.2f}s: {reason}")
        self.wait, self.reason = wait, reason
        self.headers = headers or {}  # what the parked message must carry (a reservation)


@dataclass
class CallContext:
    """The call being executed."""

    run_id: str
    tool: str
    attempt: int
    execution: int = 0  # the run's execution (worker.ledger.runs: the fence)
    response_headers: dict[str, str] = field(default_factory=dict)
    pacer: Callable[[], None] | None = None  # set by the policy: the governor's next grant
    lookup_done: bool = False  # the reconcile lookup (if any) completed this attempt


_current: contextvars.ContextVar[CallContext] = contextvars.ContextVar("toolfleet_call")


def current_call() -> CallContext:
    """The call being executed (inside a tool function)."""
    return _current.get()


def pace() -> None:
    """Before each further provider call of the same run: wait your turn (may park)."""
    call = current_call()
    if call.pacer is not None:
        call.pacer()


@contextmanager
def calling(call: CallContext) -> Iterator[CallContext]:
    """Make ``call`` the current call for the duration of the block."""
    token = _current.set(call)
    try:
        yield call
    finally:
        _current.reset(token)

"""What a running tool may know about its own call (no Celery import).

The policy opens a :func:`calling` block around the provider call; inside
it, a tool function reads :func:`current_call` for its run id and attempt,
and leaves the provider's response headers there for the governor to learn
from.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class CallContext:
    """The call being executed."""

    run_id: str
    tool: str
    attempt: int
    response_headers: dict[str, str] = field(default_factory=dict)


_current: contextvars.ContextVar[CallContext] = contextvars.ContextVar("toolfleet_call")


def current_call() -> CallContext:
    """The call being executed (inside a tool function)."""
    return _current.get()


@contextmanager
def calling(call: CallContext) -> Iterator[CallContext]:
    """Make ``call`` the current call for the duration of the block."""
    token = _current.set(call)
    try:
        yield call
    finally:
        _current.reset(token)

"""Provider SDK clients, built from settings and kept per thread.

SDK clients hold an HTTP session (keep-alive, TLS state) that is costly to
build per call and not promised to be thread-safe, so each worker thread
keeps its own, per credential profile.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TypeVar

from worker.errors import Unauthorized
from worker.settings import Settings

T = TypeVar("T")


def per_thread(factory: Callable[[Settings, str], T]) -> Callable[[Settings, str], T]:
    """Cache ``factory(settings, credential)`` per thread."""
    local = threading.local()

    @functools.wraps(factory)
    def cached(settings: Settings, credential: str) -> T:
        cache: dict[tuple[int, str], tuple[Settings, T]] = local.__dict__.setdefault("clients", {})
        key = (id(settings), credential)
        if key not in cache:
            # The settings object is kept with its client: while it lives, no other
            # object can take its id and be handed a client built from other settings.
            cache[key] = (settings, factory(settings, credential))
        return cache[key][1]

    return cached


def require(value: object, variable: str, credential: str) -> None:
    """Fail clearly (and fatally) when a provider's credentials are not configured."""
    if credential != "default":
        raise Unauthorized(f"unknown credential profile {credential!r}; only 'default' exists")
    if not value:
        raise Unauthorized(f"{variable} is not configured on this worker")

"""The fleet's one retry policy: exponential backoff with full jitter, capped.

Attempt ``n`` (1-based, the attempt that just failed) waits a uniformly random
time in ``[0, min(cap, base * 2**(n-1))]`` ("full jitter": retries of many
runs that failed together spread out instead of stampeding), and never less
than the provider's ``Retry-After`` when it gave one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from worker.settings import Settings


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_seconds: float
    cap_seconds: float

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        max_attempts: int | None = None,
        base_seconds: float | None = None,
        cap_seconds: float | None = None,
    ) -> RetryPolicy:
        """The settings' policy, with a tool's own overrides where it declares them."""
        return cls(
            max_attempts=max_attempts or settings.retry_max_attempts,
            base_seconds=base_seconds or settings.retry_base_seconds,
            # Never past the settings' cap: a tool may ask for less backoff, not more.
            cap_seconds=min(cap_seconds or settings.retry_cap_seconds, settings.retry_cap_seconds),
        )

    def envelope(self, attempt: int) -> float:
        """The longest backoff after failed attempt ``attempt``."""
        return min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempt - 1))

    def countdown(
        self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before the attempt after ``attempt``."""
        delay = (rng or random).uniform(0, self.envelope(attempt))
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay

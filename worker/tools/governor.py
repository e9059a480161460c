"""The fleet-wide rate governor's interface, as the tool policy sees it.

The policy asks :meth:`Governor.acquire` before every provider call and
reports what it learned afterwards. An admitted call gets ``None``; a call
that must wait gets the number of seconds to park. This implementation
admits everything; budgets in Redis (atomic Lua, shared by every worker)
and per-provider circuit breakers plug in behind the same three methods.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class Governor:
    """Admits calls against rate scopes and learns from provider responses."""

    def acquire(self, scopes: Sequence[str]) -> float | None:
        """``None`` to go ahead now, else seconds to wait before asking again."""
        return None

    def learn(self, scopes: Sequence[str], headers: Mapping[str, str]) -> None:
        """Tighten budgets from rate-limit response headers (remaining, reset)."""

    def report(self, provider: str, *, ok: bool) -> None:
        """Feed the provider's circuit breaker with the call's outcome."""


_governor = Governor()


def get_governor() -> Governor:
    return _governor

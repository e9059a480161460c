"""The simulator's in-memory world: one part per fake API, each its own.

Each fake's ``seed()`` builds its part afresh (:mod:`simulator.fakes`), which is how
``reset()`` restores the seed; the parts are reached by the provider's name
(``st.<name>``), and only under the engine's lock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

Record = dict[str, Any]


def utcnow() -> datetime:
    """Current time, second precision, timezone-aware (each fake renders it itself)."""
    return datetime.now(UTC).replace(microsecond=0)


class SimState(dict[str, Any]):
    """Every fake's state by provider name, also readable as an attribute (``st.<name>``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

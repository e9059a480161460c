"""A rate limit's text form, ``COUNT/PERIOD [burst N]``: what ``FLEET_RATE_LIMITS`` and
the providers' declared limits are written in.

Read by the settings (to refuse a malformed limit at start) and by the governor
(worker.runtime.governor.limits, which turns a call's scopes into budgets of these).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_LIMIT = re.compile(
    r"^\s*(?P<count>\d+(?:\.\d+)?)\s*/\s*(?P<mult>\d+(?:\.\d+)?)?\s*(?P<unit>[smhd])"
    r"\s*(?:burst\s+(?P<burst>\d+))?\s*$"
)


@dataclass(frozen=True)
class Limit:
    """``count`` calls per ``period`` seconds, up to ``burst`` at once after a pause."""

    count: float
    period: float
    burst: int = 1

    @property
    def interval(self) -> float:
        """Seconds between calls at the steady rate (GCRA's emission interval)."""
        return self.period / self.count

    def __str__(self) -> str:
        unit = next((u for u, s in UNITS.items() if s == self.period), f"{self.period:g}s")
        text = f"{self.count:g}/{unit}"
        return f"{text} burst {self.burst}" if self.burst > 1 else text


@lru_cache(maxsize=256)
def parse_limit(text: str) -> Limit:
    """``"5000/h burst 100"`` → ``Limit(5000, 3600, 100)``; ``ValueError`` if malformed."""
    found = _LIMIT.match(text)
    if not found:
        raise ValueError(
            f"rate limit {text!r} is not COUNT/PERIOD [burst N] (e.g. '5000/h burst 100')"
        )
    count = float(found["count"])
    period = float(found["mult"] or 1) * UNITS[found["unit"]]
    burst = int(found["burst"] or 1)
    if count <= 0 or period <= 0 or burst < 1:
        raise ValueError(f"rate limit {text!r}: count, period and burst must be positive")
    return Limit(count, period, burst)

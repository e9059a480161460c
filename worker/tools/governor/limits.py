"""Rate limits: their text form, and the budgets a call's scopes take.

A scope is a string such as ``<kind>:default`` or ``<kind>:default:C0001``
(the credential, then anything narrower); its *kind* is the text before the
first ``:``. Each kind has zero or more limits, written ``COUNT/PERIOD [burst N]``
(``5000/h burst 100``, ``1/s``, ``20/10s burst 5``; PERIOD is ``s``, ``m``,
``h`` or ``d``, optionally with a multiple). The provider's declaration gives
its kinds' published limits; ``FLEET_RATE_LIMITS`` replaces any kind's.
A scope whose kind has no limit takes no budget, but the governor can still
close it when a provider says so (``Retry-After``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
# Parked calls are scheduled 3% slower than the limit: the margin refills the meter
# (acquire.lua) so that calls back a little late from a busy worker go through
# instead of parking again, without any window exceeding limit + burst.
SCHEDULE_MARGIN = 1.03
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


def kind_of(scope: str) -> str:
    return scope.split(":", 1)[0]


@dataclass(frozen=True)
class Budget:
    """One scope of a call with the limits it is held to."""

    scope: str
    limits: tuple[Limit, ...]


def budgets(
    scopes: Sequence[str],
    declared: Mapping[str, Sequence[str]],
    overrides: Mapping[str, Sequence[str]],
) -> list[Budget]:
    """The budgets of ``scopes``: limits from ``overrides`` (settings), else ``declared``."""
    found = []
    for scope in dict.fromkeys(scopes):  # a scope named twice is taken once
        kind = kind_of(scope)
        texts = overrides[kind] if kind in overrides else declared.get(kind, ())
        found.append(Budget(scope, tuple(parse_limit(t) for t in texts)))
    return found

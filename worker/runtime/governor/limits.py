"""Rate limits: the budgets a call's scopes take (the text form: worker.rate_limits).

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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from worker.rate_limits import Limit, parse_limit

# Parked calls are scheduled 3% slower than the limit: the margin refills the meter
# (acquire.lua) so that calls back a little late from a busy worker go through
# instead of parking again, without any window exceeding limit + burst.
SCHEDULE_MARGIN = 1.03


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

"""The message headers the tool policy reads and writes besides a call's params.

- correlation (``idempotency_key``, ``agent_task_id``, ``step_id``): set by
  the caller, recorded with the run and kept on its dead letter;
- ``fleet_not_before``: a wait longer than one park, served in several;
- ``fleet_reserved``: the governor's reservation (worker.runtime.admission);
- ``fleet_internal_retries``: tries after a failure before the run could be claimed.

Correlation values are strings of at most :data:`CORRELATION_MAX_CHARS`
characters (what the ledger's columns hold): every door refuses others with
a clear ``BadParams`` (:func:`check_correlation`), and a message that
bypassed the doors is buried with the values cut (:func:`refusal`,
:func:`correlation`). The policy's own numbers are read leniently
(:func:`number`): a garbled one is no number, never an exception.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from worker.errors import BadParams

CORRELATION_HEADERS = ("idempotency_key", "agent_task_id", "step_id")
CORRELATION_MAX_CHARS = 255
NOT_BEFORE_HEADER = "fleet_not_before"
RESERVED_HEADER = "fleet_reserved"
INTERNAL_RETRIES_HEADER = "fleet_internal_retries"
POLICY_HEADERS = (*CORRELATION_HEADERS, NOT_BEFORE_HEADER, RESERVED_HEADER, INTERNAL_RETRIES_HEADER)


def check_correlation(values: Mapping[str, Any]) -> None:
    """At a door: refuse a correlation value the ledger could not keep."""
    error = refusal(values)
    if error is not None:
        raise error


def refusal(values: Mapping[str, Any]) -> BadParams | None:
    """The ``BadParams`` a set of correlation values earns, or None when they are fine."""
    for name in CORRELATION_HEADERS:
        value = values.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            return BadParams(f"{name} must be a string, not {type(value).__name__}")
        if len(value) > CORRELATION_MAX_CHARS:
            return BadParams(
                f"{name} is {len(value)} characters long; at most {CORRELATION_MAX_CHARS}"
            )
    return None


def correlation(values: Mapping[str, Any]) -> dict[str, str | None]:
    """The correlation values as the ledger keeps them: text, cut to the columns' size."""
    found: dict[str, str | None] = {}
    for name in CORRELATION_HEADERS:
        value = values.get(name)
        found[name] = None if value is None else str(value)[:CORRELATION_MAX_CHARS]
    return found


def number(value: Any) -> float:
    """A header meant as a number (a unix time, a count): 0 for anything else."""
    try:
        parsed = float(value or 0)
    except (TypeError, ValueError):
        return 0.0
    return parsed if math.isfinite(parsed) else 0.0


def custom_headers(request: Any) -> dict[str, Any]:
    """Headers the caller added (Celery exposes them as request attributes too)."""
    found = dict(getattr(request, "headers", None) or {})
    for name in POLICY_HEADERS:
        value = getattr(request, name, None)
        if value is not None:
            found[name] = value
    return {k: v for k, v in found.items() if k in POLICY_HEADERS}


def stored_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
    """What a dead letter keeps: the correlation headers that were set (whole: the
    letter's JSON has room for what the run's columns had to cut)."""
    return {k: v for k, v in headers.items() if k in CORRELATION_HEADERS and v is not None}

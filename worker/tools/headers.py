"""The message headers the tool policy reads and writes besides a call's params.

- correlation (``idempotency_key``, ``agent_task_id``, ``step_id``): set by
  the caller, recorded with the run and kept on its dead letter;
- ``fleet_not_before``: a wait longer than one park, served in several;
- the governor's reservation (worker.tools.admission.RESERVED_HEADER).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from worker.tools.admission import RESERVED_HEADER

CORRELATION_HEADERS = ("idempotency_key", "agent_task_id", "step_id")
NOT_BEFORE_HEADER = "fleet_not_before"
POLICY_HEADERS = (*CORRELATION_HEADERS, NOT_BEFORE_HEADER, RESERVED_HEADER)


def custom_headers(request: Any) -> dict[str, Any]:
    """Headers the caller added (Celery exposes them as request attributes too)."""
    found = dict(getattr(request, "headers", None) or {})
    for name in POLICY_HEADERS:
        value = getattr(request, name, None)
        if value is not None:
            found[name] = value
    return {k: v for k, v in found.items() if k in POLICY_HEADERS}


def stored_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
    """What a dead letter keeps: the correlation headers that were set."""
    return {k: v for k, v in headers.items() if k in CORRELATION_HEADERS and v is not None}

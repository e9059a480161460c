"""A run's history: one entry per attempt's end and per park, kept in ``tool_runs.history``.

Entries are appended by the statement that records the outcome itself, so
keeping them costs no round trip; the array is trimmed in the same statement
to the newest :data:`HISTORY_KEPT` (a run parked for hours must not grow a
row without bound). Shapes, all with ``event`` and ``at`` (ISO time):

- ``failed`` (``attempt``, ``started_at``, ``error``, ``retry_in`` seconds);
- ``succeeded`` / ``dead`` (``attempt`` and ``started_at`` when it was an
  attempt; a dead one's ``error``);
- ``parked`` (``wait`` seconds, ``reason``): not an attempt;
- ``duplicate`` (``of``, ``status``): answered by the run holding its key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, literal, text
from sqlalchemy.dialects.postgresql import JSONB

from worker.ledger.models import ToolRun
from worker.redact import redact_json

HISTORY_KEPT = 50
HISTORY = ToolRun.__table__.c.history


# with_entry as SQL text, for statements written out: ``%(entry)s`` is a one-entry JSONB array.
HISTORY_APPENDED = (
    f"jsonb_path_query_array(coalesce(history, '[]'::jsonb) || %(entry)s, "
    f"'$[last-{HISTORY_KEPT - 1} to last]')"
)


def entry(event: str, **fields: Any) -> dict[str, Any]:
    """One history entry, stamped now (values redacted)."""
    return {"event": event, "at": datetime.now(UTC).isoformat(), **redact_json(fields)}


def with_entry(event: str, **fields: Any) -> ColumnElement[Any]:
    """``history`` with one more entry (stamped now), trimmed to the newest HISTORY_KEPT."""
    grown = func.coalesce(HISTORY, literal([], JSONB)).op("||")(
        literal([entry(event, **fields)], JSONB)
    )
    return func.jsonb_path_query_array(grown, text(f"'$[last-{HISTORY_KEPT - 1} to last]'"))


def error_summary(error: dict[str, Any]) -> dict[str, Any]:
    """What a history entry keeps of an error (the full one is in ``error``)."""
    return {k: error[k] for k in ("type", "message", "status", "retry_after") if k in error}


def describe(row: dict[str, Any]) -> tuple[str, str]:
    """A run row's state in words, as a waiting caller is told it (``running on W
    (attempt 2)``, ``parked 2s: <reason>``, ``retrying after Unavailable: ...``), and a
    key that changes whenever there is news (a second park or retry is news too)."""
    line = row["status"]
    last = (row["history"] or [{}])[-1]
    if line == "running" and row["worker"]:
        line = f"running on {row['worker']} (attempt {row['attempts'] + 1})"
    elif line == "parked" and last.get("event") == "parked":
        line = f"parked {last['wait']:g}s: {last.get('reason') or 'waiting'}"
    elif line == "retrying" and row["error"]:
        line = f"retrying after {row['error'].get('type')}: {row['error'].get('message')}"
    return line, f"{line} #{row['attempts']}/{row['parks']}"

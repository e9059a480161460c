"""From the ledger to the completion events: what a just-written row announces.

The statements that make a run final return the few columns an event needs
(``RETURNING``: no extra round trip), and the event is published once the
write is committed (worker.events). A message redelivered after its worker
died between the commit and the publish finds its run final and announces it
again (:func:`announce_again`): delivery is at least once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from worker import events
from worker.ledger.models import RunStatus, ToolRun
from worker.ledger.refs import Begun, RunRef

RUNS = ToolRun.__table__
FIELDS = ("id", "tool", "status", "agent_task_id", "step_id", "attempts")
EVENT_COLUMNS = tuple(RUNS.c[name] for name in (*FIELDS, "started_at", "finished_at"))


def announce(row: Mapping[str, Any], outcome: Any) -> None:
    """Announce a row just written (``outcome``: its result, or its error dict)."""
    failed = row["status"] != RunStatus.SUCCEEDED and isinstance(outcome, dict)
    events.publish(
        events.completion(
            row, result=None if failed else outcome, error=outcome if failed else None
        )
    )


def announce_again(ref: RunRef, begun: Begun) -> None:
    """Announce a run found already final (``begun``: what the ledger answered)."""
    row = {
        "id": ref.run_id,
        "tool": ref.tool,
        "status": begun.final_status,
        "agent_task_id": ref.agent_task_id,
        "step_id": ref.step_id,
        "attempts": begun.attempts,
        "started_at": begun.started_at,
        "finished_at": begun.finished_at,
    }
    announce(row, begun.error if begun.error is not None else begun.result)

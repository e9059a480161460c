"""The dead-letter workflow: replay (re-validated, as a new run) or discard.

Replay checks the letter's params (or corrected ones given instead) against
*today's* schema first — a tool that changed since the letter died may now
reject them — then publishes a new run whose id is recorded in
``replayed_as``. Bulk replay takes a tool's letters since a time, oldest
first, and reports each one's fate; one that cannot be replayed does not stop
the others. Marking the letter and
publishing happen in one ledger transaction: if publishing fails, the letter
stays ``dead``. Discarding marks the letter; nothing is deleted.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from worker import ledger
from worker.errors import ToolError
from worker.front.client import FleetClient
from worker.ledger import LetterState, RunRef
from worker.redact import masked_fields


class NotReplayable(ValueError):
    """This letter cannot be replayed as it is."""


def replay(
    letter_id: int,
    client: FleetClient | None = None,
    *,
    params: dict[str, Any] | None = None,
) -> str:
    """Re-run a dead letter (with ``params`` instead of its own if given); returns the
    new run id."""
    client = client or FleetClient()
    letter = ledger.get_letter(letter_id)
    if letter is None:
        raise LookupError(f"no dead letter {letter_id}")
    if not letter["tool"]:
        raise NotReplayable(
            f"dead letter {letter_id} is an unreadable message, not a tool call: "
            "inspect it with `fleet dlq show`, then discard it"
        )
    if params is None:
        params = letter["params"] or {}
    masked = masked_fields(params)
    if masked:
        raise NotReplayable(
            f"dead letter {letter_id} cannot be replayed as stored: its params held secrets, "
            f"masked when it was recorded ({', '.join(masked)}). Pass the token through a "
            "named credential (param `credential`, configured on the fleet) and call again"
        )
    client.validate(letter["tool"], params)  # raises UnknownTool / BadParams
    headers = dict(letter["headers"] or {})
    new_id = str(uuid.uuid4())
    ref = RunRef(
        run_id=new_id,
        tool=letter["tool"],
        queue=letter["queue"],
        params=params,
        idempotency_key=headers.get("idempotency_key"),
        agent_task_id=headers.get("agent_task_id"),
        step_id=headers.get("step_id"),
    )
    ledger.resolve_letter(
        letter_id,
        LetterState.REPLAYED,
        replay=ref,
        then=lambda: client.call(
            letter["tool"],
            params,
            task_id=new_id,
            idempotency_key=ref.idempotency_key,
            agent_task_id=ref.agent_task_id,
            step_id=ref.step_id,
        ),
    )
    return new_id


def replay_matching(
    tool: str, since: datetime | None, *, limit: int = 1000, client: FleetClient | None = None
) -> list[dict[str, Any]]:
    """Replay every dead letter of ``tool`` buried since ``since`` (oldest first): one
    ``{"letter": id, "run": new id}`` or ``{"letter": id, "error": why}`` per letter."""
    client = client or FleetClient()
    client.spec(tool)  # an unknown tool name is an error, not "nothing to replay"
    outcomes: list[dict[str, Any]] = []
    letters = ledger.list_letters(
        state=LetterState.DEAD, tool=tool, since=since, limit=limit, oldest_first=True
    )
    for letter in letters:
        try:
            outcomes.append({"letter": letter["id"], "run": replay(letter["id"], client)})
        except (LookupError, ValueError, ToolError) as exc:  # NotReplayable is a ValueError
            outcomes.append({"letter": letter["id"], "error": str(exc)})
    return outcomes


def discard(letter_id: int) -> None:
    """Mark a dead letter as dealt with (kept for the record)."""
    ledger.resolve_letter(letter_id, LetterState.DISCARDED)

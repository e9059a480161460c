"""What identifies a run and what the ledger answers about it: plain values passed
between the tool policy and the ledger (and kept in the outbox as JSON)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from worker.redact import redact_json


@dataclass(frozen=True)
class RunRef:
    """What identifies a run and what the caller said about it."""

    run_id: str
    tool: str
    queue: str | None = None
    worker: str | None = None
    params: dict[str, Any] | None = None
    idempotency_key: str | None = None
    agent_task_id: str | None = None
    step_id: str | None = None
    executor: str | None = None  # the worker process executing it (its heartbeat name)


def ref_columns(ref: RunRef) -> dict[str, Any]:
    """The ``tool_runs`` columns a reference fills (params redacted)."""
    return {
        "id": ref.run_id,
        "tool": ref.tool,
        "queue": ref.queue,
        "params": redact_json(ref.params),
        "agent_task_id": ref.agent_task_id,
        "step_id": ref.step_id,
        "requested_key": ref.idempotency_key,
    }


@dataclass(frozen=True)
class Holder:
    """The run that already owns an idempotency key."""

    run_id: str
    status: str
    result: dict[str, Any] | None
    error: dict[str, Any] | None


@dataclass(frozen=True)
class Claim:
    """Another execution's live claim on a run: which worker process, until when at most."""

    executor: str | None
    until: datetime | None


@dataclass(frozen=True)
class Begun:
    """The run's state as its execution starts."""

    final_status: str | None  # set when the run had already ended
    attempts: int
    parks: int
    redeliveries: int
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None  # the final error, or the last failed attempt's
    holder: Holder | None = None
    execution: int = 0  # this execution's number: every later write of it names it
    maybe_written: bool = False  # an earlier execution may have written, unchecked yet
    busy: Claim | None = None  # not claimed: another execution holds a live claim

    @property
    def already_final(self) -> bool:
        return self.final_status is not None

"""What the MCP server does with a tool call, free of MCP types: publish it through the
fleet client, follow it for a bounded time, and describe a run from the ledger.

:func:`call_and_wait` runs in a worker thread, from publish to answer. Keeping the whole
call in one thread matters: Celery's result backend is per thread (``app.backend`` is
thread-local) and its Redis pub/sub consumer must not be drained by two threads at once,
so each call's ``AsyncResult`` is created, waited on and released by the thread that
owns it. While waiting it reads the run's ledger row every :data:`POLL_SECONDS` and tells
each change of state (queued → running → parked / retrying, with the reason) through
``tell``. A call that outlives the wait is answered with its run id and status: the run
goes on, and :func:`run_view` (the ``fleet.get_run`` tool) tells its outcome later.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celery.exceptions import TimeoutError as CeleryTimeout
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from worker import ledger
from worker.errors import ToolError, bad_params
from worker.front.client import BrokerUnavailable, FleetClient, UnknownTool
from worker.front.follow import news
from worker.ledger import history

POLL_SECONDS = 0.5
GET_RUN_HINT = "call fleet__get_run with this run_id for the outcome"


@dataclass(frozen=True)
class Outcome:
    """A call's answer: the structured content, whether it is an error, the run's id."""

    structured: dict[str, Any]
    is_error: bool = False
    run_id: str | None = None
    text: str = ""  # an error's one line for the model (else the content is the JSON)


def failure(kind: str, message: str, run_id: str | None = None, **details: Any) -> Outcome:
    """An ``isError`` answer naming the taxonomy type (or ``UnknownTool``)."""
    error = {"type": kind, "message": message, **details}
    return Outcome({"error": error}, is_error=True, run_id=run_id, text=f"{kind}: {message}")


def _tool_failure(exc: ToolError, run_id: str | None = None) -> Outcome:
    error = exc.to_dict()
    return failure(error.pop("type"), error.pop("message"), run_id, **error)


def call_and_wait(
    client: FleetClient,
    tool: str,
    arguments: dict[str, Any] | None,
    *,
    agent_task_id: str,
    wait_seconds: float,
    tell: Callable[[str], None],
    stop: threading.Event,
) -> Outcome:
    """Validate and publish ``tool(**arguments)``, then wait up to ``wait_seconds`` for it.

    Unknown tools and invalid params are refused before anything is published, by the
    client's one validation path. ``stop`` (set when the MCP request is cancelled) ends
    the wait early; the run itself goes on either way.
    """
    try:
        handle = client.call(tool, arguments, agent_task_id=agent_task_id)
    except UnknownTool as exc:
        return failure("UnknownTool", str(exc))
    except BrokerUnavailable as exc:  # nothing was published: the agent may try again
        return failure("BrokerUnavailable", str(exc), retryable=True)
    except ToolError as exc:
        return _tool_failure(exc)
    deadline = time.monotonic() + wait_seconds
    status, told = "queued", ""
    try:
        while True:
            status, told = news(handle.id, status, told, tell)  # "queued" is told at once
            left = deadline - time.monotonic()
            if left <= 0 or stop.is_set():
                pending = {"run_id": handle.id, "status": status, "hint": GET_RUN_HINT}
                return Outcome(pending, run_id=handle.id)
            try:
                result = handle.get(timeout=min(POLL_SECONDS, left))
            except CeleryTimeout:
                pass
            except ToolError as exc:
                return _tool_failure(exc, handle.id)
            else:
                structured = result if isinstance(result, dict) else {"result": result}
                return Outcome(structured, run_id=handle.id)
    finally:
        handle.release()  # whether answered or not: stop listening for this result


class GetRun(BaseModel):
    """Which run to look up."""

    model_config = ConfigDict(extra="forbid")
    run_id: str = Field(min_length=1, max_length=64, description="The run id a call returned.")


class RunView(BaseModel):
    """Where a run stands, and its outcome once final."""

    run_id: str
    tool: str
    status: str = Field(description="queued, running, parked, retrying, succeeded or dead")
    final: bool
    attempts: int = Field(description="provider calls made")
    parks: int = Field(description="waits that were not failures (rate limits, circuits)")
    state: str = Field(description="the status in words, with the reason while waiting")
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = Field(default=None, description="type, message, retryable...")
    dead_letter_id: int | None = None


def run_view(run_id: str) -> RunView | None:
    """The run as the ledger has it (results and errors are stored redacted)."""
    row = ledger.get_run(run_id)
    if row is None:
        return None
    return RunView(
        run_id=row["id"],
        tool=row["tool"],
        status=row["status"],
        final=row["status"] in ledger.FINAL_STATUSES,
        attempts=row["attempts"],
        parks=row["parks"],
        state=history.describe(row)[0],
        result=row["result"],
        error=row["error"],
        dead_letter_id=row["dead_letter_id"],
    )


class EventsPage(BaseModel):
    """Which completion events to read (worker.events): a long poll."""

    model_config = ConfigDict(extra="forbid")
    after: str = Field(
        default="0", max_length=64, description='"0": all kept; "$": new; or the previous "next"'
    )
    agent_task_id: str | None = Field(default=None, max_length=255)
    tool: str | None = Field(default=None, max_length=128)
    wait: float = Field(default=0, ge=0, le=30, description="seconds to wait for a first event")


class Events(BaseModel):
    """A page of completion events and where the next page starts."""

    events: list[dict[str, Any]]
    next: str = Field(description="pass as `after` to read on")


def events_page(arguments: dict[str, Any] | None) -> Outcome:
    """``fleet.events``: completion events (each run's end), filtered, as a long poll."""
    from worker.events import page

    try:
        asked = EventsPage.model_validate(arguments or {})
    except ValidationError as exc:
        return _tool_failure(bad_params(exc, prefix="fleet.events: "))
    found, cursor = page(
        after=asked.after,
        wait_seconds=asked.wait,
        agent_task_id=asked.agent_task_id,
        tool=asked.tool,
    )
    return Outcome(Events(events=found, next=cursor).model_dump(mode="json"))


def get_run(arguments: dict[str, Any] | None) -> Outcome:
    """``fleet.get_run``: the run's :class:`RunView`, or an error naming what is wrong."""
    try:
        run_id = GetRun.model_validate(arguments or {}).run_id
    except ValidationError as exc:
        return _tool_failure(bad_params(exc, prefix="fleet.get_run: "))
    try:
        view = run_view(run_id)
    except ledger.LedgerUnavailable as exc:
        return failure("Unavailable", f"the ledger cannot be read now: {exc}")
    if view is None:
        return failure("NotFound", f"no run {run_id!r} in the ledger")
    return Outcome(view.model_dump(mode="json"), run_id=run_id)

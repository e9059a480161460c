"""Completion events: each run's end on a Redis stream that agents follow.

When a run's ledger row becomes final (``succeeded`` or ``dead``; with
``FLEET_EVENTS_INTERIM`` also ``retrying`` and ``parked``), the ledger
function that wrote it publishes an event on :data:`STREAM_KEY` with
``XADD ... MAXLEN ~ FLEET_EVENTS_MAX_LEN``: run id, tool, status, its name
``integrations.<tool>_<status>``, agent_task_id, step_id, attempts,
duration and a bounded summary of the result or error (already redacted in
the ledger; redacted again here).

Delivery is at least once: the event follows the commit, and a worker dying
between the two never acknowledged its message, so the message comes back,
finds the run final and publishes again (worker.runtime.policy). Readers
de-duplicate by ``run_id``. A failed publish is logged, never raised: the
run's outcome is what matters, and it is in the ledger.

In a worker, a tool task's events wait for its result: the result backend
sends them in the same pipeline as the result (one round trip less per run:
worker.results), and whatever it did not send is sent when the task
returns (:func:`defer` / :func:`flush_deferred`). Either way before the
message is acknowledged.

Readers: :func:`iterate` (what ``FleetClient.events`` and ``fleet events``
use) reads from a point in the stream, optionally following it, and with a
consumer group spreads events over several readers, acknowledging each one
once the reader asks for the next.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from worker.fleet_redis import fleet_redis, new_client
from worker.redact import redact_json

logger = logging.getLogger(__name__)

STREAM_KEY = "fleet:events"
FINAL = ("succeeded", "dead", "lost")
SUMMARY_MAX_CHARS = 4096
BLOCK_MS = 2000


def completion(
    row: Mapping[str, Any],
    *,
    result: Any = None,
    error: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The event for a run's row as just written (``tool``, ``status``, ``attempts``,
    ``agent_task_id``, ``step_id``, ``started_at``, ``finished_at``)."""
    tool, status = row["tool"], row["status"]
    event: dict[str, Any] = {
        "run_id": row["id"],
        "tool": tool,
        "status": status,
        "name": f"integrations.{tool}_{status}",
        "agent_task_id": row.get("agent_task_id"),
        "step_id": row.get("step_id"),
        "attempts": row.get("attempts"),
        "duration_seconds": _seconds(row.get("started_at"), row.get("finished_at")),
    }
    if error is not None:
        event["error"] = {k: error.get(k) for k in ("type", "message") if k in error}
    if result is not None:
        text = json.dumps(redact_json(result), default=str)
        if len(text) <= SUMMARY_MAX_CHARS:
            event["result"] = json.loads(text)
        else:  # a page of issues: the event says it came, the ledger holds it
            event["result_preview"] = text[:SUMMARY_MAX_CHARS]
            event["result_truncated"] = True
    return event


def wanted(status: str) -> bool:
    """Whether a run reaching ``status`` is announced (final ones always)."""
    from worker.settings import get_settings

    return status in FINAL or get_settings().events_interim


def publish(event: Mapping[str, Any]) -> None:
    """XADD the event now, or with the task's result when this thread defers events."""
    fields = {
        "run_id": event["run_id"],
        "status": event["status"],
        "data": json.dumps(event, default=str),
    }
    pending = getattr(_deferred, "events", None)
    if pending is not None:
        pending.append(fields)
        return
    _send([fields])


_deferred = threading.local()


def defer() -> None:
    """From now on this thread's events wait for its task's result (a tool task starts)."""
    flush_deferred()  # a previous task's, should its result store have failed
    _deferred.events = []


def add_deferred(pipe: Any) -> list[dict[str, str]]:
    """Queue this thread's waiting events on ``pipe`` (XADDs); returns them, for
    :func:`sent` once the pipeline ran."""
    pending = getattr(_deferred, "events", None) or []
    for fields in pending:
        pipe.xadd(STREAM_KEY, fields, maxlen=_max_len(), approximate=True)
    return list(pending)


def sent(events: list[dict[str, str]]) -> None:
    pending = getattr(_deferred, "events", None)
    if pending:
        del pending[: len(events)]


def flush_deferred() -> None:
    """Send what this thread still holds and stop deferring (its task has returned)."""
    pending, _deferred.events = getattr(_deferred, "events", None), None
    if pending:
        _send(pending)


def _send(batch: list[dict[str, str]]) -> None:
    try:
        pipe = fleet_redis().pipeline(transaction=False)
        for fields in batch:
            pipe.xadd(STREAM_KEY, fields, maxlen=_max_len(), approximate=True)
        pipe.execute()
    except Exception as exc:  # noqa: BLE001 — the ledger holds the outcome; see docstring
        runs = ", ".join(fields["run_id"] for fields in batch)
        logger.warning("completion event for run %s not published: %s", runs, exc)


def _max_len() -> int:
    from worker.settings import get_settings

    return get_settings().events_max_len


def iterate(
    *,
    after: str = "0",
    follow: bool = False,
    agent_task_id: str | None = None,
    tool: str | None = None,
    group: str | None = None,
    consumer: str = "reader",
) -> Iterator[dict[str, Any]]:
    """Events after stream id ``after`` (``"0"``: all kept; ``"$"``: only new ones),
    each with its stream ``id``; filtered by agent_task_id and tool. Stops at the end
    unless ``follow``. With ``group``, the group's consumers share the events (created
    at ``after`` if new) and each is acknowledged when the next one is asked for; a
    consumer that crashed gets its unacknowledged events again first."""
    client = new_client(socket_timeout=BLOCK_MS / 1000 + 5)
    block = BLOCK_MS if follow else None
    if group is None:
        entries = _read(client, after, block)
    else:
        entries = _read_as(client, group, consumer, after, block)
    for event in entries:
        if _matches(event, agent_task_id, tool):
            yield event


def page(
    *,
    after: str = "0",
    wait_seconds: float = 0.0,
    agent_task_id: str | None = None,
    tool: str | None = None,
    limit: int = 100,
) -> tuple[list[dict[str, Any]], str]:
    """One page of matching events after stream id ``after``, waiting up to
    ``wait_seconds`` for the first (a long poll), and the cursor to ask from next
    (past what was read, matching or not: a filtered reader does not read it again)."""
    client = new_client(socket_timeout=wait_seconds + 5)
    deadline = time.monotonic() + wait_seconds
    if after == "$":  # "from now": a concrete id, so the next page misses nothing
        newest = client.xrevrange(STREAM_KEY, count=1)
        after = _decoded(*newest[0])["id"] if newest else "0-0"
    cursor, found = after, []
    while not found:
        left_ms = int(max(0.0, deadline - time.monotonic()) * 1000)
        batches = client.xread({STREAM_KEY: cursor}, limit, left_ms or None)
        entries = batches[0][1] if batches else []
        for entry_id, fields in entries:
            event = _decoded(entry_id, fields)
            cursor = event["id"]
            if _matches(event, agent_task_id, tool):
                found.append(event)
        if not entries and (left_ms == 0 or time.monotonic() >= deadline):
            break
    return found, cursor


def _read(client: Any, after: str, block: int | None) -> Iterator[dict[str, Any]]:
    cursor = after
    while True:
        batches = client.xread({STREAM_KEY: cursor}, 100, block)
        if not batches and block is None:
            return
        for entry_id, fields in batches[0][1] if batches else []:
            cursor = entry_id
            yield _decoded(entry_id, fields)


def _read_as(
    client: Any, group: str, consumer: str, start: str, block: int | None
) -> Iterator[dict[str, Any]]:
    """A group consumer's events, each acknowledged when the next one is asked for."""
    _ensure_group(client, group, start)
    pending = True  # first what this consumer was given and never acknowledged
    while True:
        cursor = "0" if pending else ">"
        wait = None if pending else block
        # One at a time: a batch would be this consumer's alone, not shared.
        batches = client.xreadgroup(group, consumer, {STREAM_KEY: cursor}, 1, wait)
        entries = batches[0][1] if batches else []
        if not entries:
            if pending:
                pending = False
                continue
            if block is None:
                return
        for entry_id, fields in entries:
            yield _decoded(entry_id, fields)
            client.xack(STREAM_KEY, group, entry_id)


def _decoded(entry_id: bytes | str, fields: Mapping[bytes, bytes]) -> dict[str, Any]:
    entry_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return {"id": entry_id, **json.loads(fields[b"data"])}


def _ensure_group(client: Any, group: str, start: str) -> None:
    import redis

    try:
        client.xgroup_create(STREAM_KEY, group, id=start, mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _matches(event: Mapping[str, Any], agent_task_id: str | None, tool: str | None) -> bool:
    if agent_task_id is not None and event.get("agent_task_id") != agent_task_id:
        return False
    return tool is None or event.get("tool") == tool


def _seconds(start: datetime | str | None, end: datetime | str | None) -> float | None:
    if start is None or end is None:
        return None
    start = datetime.fromisoformat(start) if isinstance(start, str) else start
    end = datetime.fromisoformat(end) if isinstance(end, str) else end
    return round((end - start).total_seconds(), 3)

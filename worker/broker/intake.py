"""What the worker does with messages it cannot run: keep them as dead letters.

Celery logs and drops a message whose body cannot be decoded, whose content
type is refused (pickle), or whose task name no worker knows. The fleet
keeps each one in ``dead_letters`` first (with the run row marked ``dead``
when the message had a task id), so an operator can see what was sent and,
once the cause is fixed, replay it.

The consumer here also sends its task events (received, started, succeeded:
what Flower shows) in batches every :data:`EVENTS_FLUSH_SECONDS`: stock
Celery flushes its event buffer on the loop's next turn, about one PUBLISH
per run and ~10% of a busy worker's time.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
from typing import Any

from celery.worker.consumer import Consumer
from kombu.message import Message
from vine import promise

from worker import ledger
from worker.broker.forward import destination, forward
from worker.broker.reprs import mask_received
from worker.errors import BadParams, Fatal, NotFound, ToolError
from worker.ledger import LedgerUnavailable, RunRef
from worker.queues import queue_for
from worker.runtime.headers import correlation, refusal

logger = logging.getLogger(__name__)
EVENTS_FLUSH_SECONDS = 0.05
EVENTS_BUFFER_LIMIT = 1000  # a safety valve, far above what one tick gathers


def bury_unreadable(raw: str, reason: str, *, queues: list[str]) -> None:
    """A queue item that is not a message at all."""
    error = BadParams(f"unreadable message: {reason}", {"queues": queues}).to_dict()
    try:
        letter = ledger.bury_message(raw, error, queue=fit(",".join(queues), size("queue")))
    except Exception as exc:  # noqa: BLE001 — nothing may stop the consumer (see below)
        logger.critical("unreadable message not kept (%s): %r; %s", exc, raw[:2048], reason)
        return
    logger.error("unreadable message kept as dead letter %s: %s", letter, reason)


def bury_message(message: Message, error: ToolError) -> None:
    """A well-formed envelope the worker will not run.

    Whatever it holds, nothing escapes from here: an exception out of the consumer's
    hooks stops the worker ("Unrecoverable error"), and the message, never rejected,
    would come back and stop the next one. Fields longer than the ledger's columns are
    cut (an id too long to be a key is replaced by its hash) and the raw message is
    then kept whole; if the letter still cannot be written the message is logged."""
    headers = dict(message.headers or {})
    run_id, tool = headers.get("id"), headers.get("task")
    raw = _raw_body(message)
    try:
        if run_id and tool:
            kwargs = _kwargs_of(message)
            queue = (message.delivery_info or {}).get("routing_key") or queue_for(str(tool))
            ref = RunRef(
                run_id=run_key(str(run_id)),
                tool=fit(str(tool), size("tool")),
                queue=fit(str(queue), size("queue")),
                params=kwargs,
                **correlation(headers),
            )
            cut = ref.run_id != str(run_id) or ref.tool != str(tool) or refusal(headers) is not None
            letter = ledger.bury(
                ref,
                error.to_dict(),
                headers=_public_headers(headers),
                attempted=False,
                raw_message=_raw_message(message) if cut else raw if kwargs is None else None,
            )
        else:
            letter = ledger.bury_message(raw, error.to_dict(), queue=None)
    except LedgerUnavailable:
        logger.critical("rejected message (ledger down, kept here): %s; %s", raw[:2048], error)
        return
    except Exception:  # see the docstring: one bad row is not an outage
        logger.exception("rejected message %r could not be kept as a letter", str(run_id)[:80])
        try:  # the message alone, whole, with nothing drawn from it
            letter = ledger.bury_message(_raw_message(message), error.to_dict(), queue=None)
        except Exception:  # noqa: BLE001
            logger.critical("rejected message (not kept): %s; %s", raw[:2048], error)
            return
    logger.error("rejected message %s kept as dead letter %s: %s", str(run_id)[:80], letter, error)


def size(column: str) -> int:
    """How many characters ``tool_runs.<column>`` holds (read from the model: declared
    once; imported here, not at module load, as the transport imports this module)."""
    from worker.ledger.models import ToolRun

    return int(ToolRun.__table__.c[column].type.length)


def fit(value: str, limit: int) -> str:
    """``value`` cut to ``limit`` characters, saying so."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def run_key(run_id: str) -> str:
    """A message's id as a run id: itself, or (longer than the column) its SHA-256."""
    if len(run_id) <= size("id"):
        return run_id
    return hashlib.sha256(run_id.encode("utf-8", "replace")).hexdigest()


def _raw_body(message: Message) -> str:
    body = message.body
    return body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)


def _raw_message(message: Message) -> str:
    """The message as it came, headers and body, whole: kept where fields were cut."""
    return json.dumps({"headers": message.headers or {}, "body": _raw_body(message)}, default=repr)


def _kwargs_of(message: Message) -> dict[str, Any] | None:
    """The call's kwargs when the body is a readable protocol-2 JSON body."""
    if message.content_type != "application/json":
        return None
    try:
        body = message.decode()
    except Exception:  # noqa: BLE001 — any decode failure means "no kwargs to keep"
        return None
    if isinstance(body, list) and len(body) >= 2 and isinstance(body[1], dict):
        return body[1]
    return None


def _public_headers(headers: dict[str, Any]) -> dict[str, Any]:
    keep = ("id", "task", "idempotency_key", "agent_task_id", "step_id", "origin")
    return {k: headers[k] for k in keep if k in headers}


class FleetConsumer(Consumer):
    """Celery's consumer, keeping rejected messages as dead letters before dropping them,
    masking every message's argument reprs before Celery shows them anywhere, and
    forwarding what other Celery clients left on Celery's default queue, and sending
    its task events in batches."""

    def register_with_event_loop(self, hub: Any) -> None:
        super().register_with_event_loop(hub)
        if self.event_dispatcher is not None:
            # Celery's dispatcher also flushes every 24 events (8 runs): the timer
            # alone decides, so a busy worker sends one PUBLISH per tick.
            self.event_dispatcher.buffer_limit = EVENTS_BUFFER_LIMIT
        hub.call_repeatedly(EVENTS_FLUSH_SECONDS, self._flush_events)  # in the loop thread

    def on_send_event_buffered(self) -> None:
        """Stock: a flush on the loop's next turn. Here the timer above flushes (the
        dispatcher still flushes itself when its buffer is full)."""

    def stop(self) -> None:
        self._flush_events()  # what the timer had not sent yet
        super().stop()

    def create_task_handler(self, promise: Any = promise) -> Any:
        handle = super().create_task_handler(promise)

        def on_task_received(message: Message) -> Any:
            queue = destination(message)
            if queue is not None:  # it landed on Celery's default queue: send it on
                return forward(self.app, message, queue)
            mask_received(message)
            return handle(message)

        return on_task_received

    def on_unknown_task(self, body: Any, message: Message, exc: Exception) -> None:
        name = str((message.headers or {}).get("task"))
        known = [n for n in self.app.tasks if "." in n]
        close = difflib.get_close_matches(name[: size("tool")], known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        bury_message(message, NotFound(f"unknown tool {name!r}{hint}"))
        super().on_unknown_task(body, message, exc)

    def on_invalid_task(self, body: Any, message: Message, exc: Exception) -> None:
        bury_message(message, BadParams(f"invalid message: {exc}"))
        super().on_invalid_task(body, message, exc)

    def on_unknown_message(self, body: Any, message: Message) -> None:
        bury_message(message, BadParams("not a task message (no task header)"))
        super().on_unknown_message(body, message)

    def on_decode_error(self, message: Message, exc: Exception) -> None:
        bury_message(message, Fatal(f"undecodable message: {exc}"))
        super().on_decode_error(message, exc)

"""What task events, logs and Flower show of a call: masked reprs and failures.

A Celery message carries ``argsrepr``/``kwargsrepr`` headers, written by the
sender, and the worker's ``task-received`` event (what Flower's task page
shows) repeats them. The fleet's app writes them masked
(:class:`FleetAMQP`: every publish through it, Flower's send-task API and
retries included); a message from any other client has its reprs masked by
the worker before Celery reads them (:func:`mask_received`). The message
body itself is untouched: the tool needs the real values. A task declared
with ``send_events=False`` (housekeeping) is also published without a
``task-sent`` event, so it stays out of Flower's task list altogether.

A failure's event (``task-failed``, ``task-retried``...) carries ``repr(exc)`` and
the traceback: :class:`FleetEvents` gives the app a dispatcher that masks both, so
what Flower shows of a failure holds no secret whatever raised it.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.app.amqp import AMQP
from celery.app.events import Events
from celery.events.dispatcher import EventDispatcher
from celery.utils.saferepr import saferepr
from kombu.message import Message
from kombu.utils.objects import cached_property

from worker.redact import may_hold_secret, redact, redact_json

logger = logging.getLogger(__name__)
REPR_HEADERS = ("argsrepr", "kwargsrepr")
# Event fields that quote an exception: its repr and the formatted traceback.
FAILURE_FIELDS = ("exception", "traceback")


class FleetAMQP(AMQP):
    """Celery's message builder, with argument reprs masked (see worker.redact) and
    each call's ``task-sent`` event sent in a batch (worker.broker.sent)."""

    def as_task_v2(
        self,
        task_id: str,
        name: str,
        args: Any = None,
        kwargs: Any = None,
        *rest: Any,
        argsrepr: str | None = None,
        kwargsrepr: str | None = None,
        **options: Any,
    ) -> Any:
        if argsrepr is None:
            argsrepr = self._masked_repr(args or (), self.argsrepr_maxsize)
        if kwargsrepr is None:
            kwargsrepr = self._masked_repr(kwargs or {}, self.kwargsrepr_maxsize)
        message = super().as_task_v2(
            task_id, name, args, kwargs, *rest, argsrepr=argsrepr, kwargsrepr=kwargsrepr, **options
        )
        # The registry as it stands, not ``app.tasks``: that would finalize the app and
        # load every tool's policy and the ledger in a process that only publishes.
        # Tasks that send no events are registered at once (worker.app), so they are here.
        task = self.app._tasks.get(name)
        if task is not None and not task.send_events:
            # A task that sends no events (housekeeping) has no ``task-sent`` either:
            # Flower would list it forever as sent.
            message = message._replace(sent_event=None)
        return message

    @cached_property
    def _event_dispatcher(self) -> Any:
        """What publishes each call's ``task-sent`` event: in batches (worker.broker.sent)."""
        from worker.broker.sent import BatchedSentEvents

        return BatchedSentEvents(app=self.app)

    def _masked_repr(self, value: Any, maxsize: int) -> str:
        levels = self.app.conf.task_repr_maxlevels
        return saferepr(redact_json(value), maxsize, maxlevels=levels)


def mask_received(message: Message) -> None:
    """Mask a received message's argument reprs in place, before Celery reads them.

    The reprs are rebuilt from the decoded body when they may hold a secret (exact,
    whatever their nesting); text that cannot be decoded is masked as text."""
    headers = message.headers
    if not isinstance(headers, dict):
        return
    shown = {name: headers.get(name) for name in REPR_HEADERS}
    if not any(isinstance(text, str) and may_hold_secret(text) for text in shown.values()):
        return
    try:
        args, kwargs, _embed = message.decode()
        headers["argsrepr"] = saferepr(redact_json(list(args)))
        headers["kwargsrepr"] = saferepr(redact_json(dict(kwargs)))
    except Exception:  # noqa: BLE001 — an undecodable body is the intake's business
        for name, text in shown.items():
            if isinstance(text, str):
                headers[name] = redact(text)


class MaskingDispatcher(EventDispatcher):
    """Celery's event dispatcher, a failure's exception and traceback masked."""

    def send(self, type: str, *args: Any, **fields: Any) -> Any:
        for name in FAILURE_FIELDS:
            text = fields.get(name)
            if isinstance(text, str):
                fields[name] = redact(text)
        return super().send(type, *args, **fields)


class FleetEvents(Events):
    """``app.events``: every dispatcher the app makes (the worker's included) masks."""

    dispatcher_cls = "worker.broker.reprs:MaskingDispatcher"

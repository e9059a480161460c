"""Messages other Celery clients leave on Celery's default queue, sent on to their tool's.

A Celery client that knows none of the fleet's routes (``celery call``, a
bare ``send_task``, celery-node) publishes to the queue ``celery``. Workers
of the fleet's default queue consume it as well (:func:`consume_foreign_queue`)
and forward each task message, untouched — same id, headers and body — to
the queue its name routes to, then acknowledge it. Running it where it landed
would bypass the provider's workers (their pools and concurrency); forwarding
costs one publish. A message that is not a task (no ``task`` header) is left
to the consumer, which keeps it as a dead letter.
"""

from __future__ import annotations

import logging
from typing import Any

from kombu import Exchange, Queue
from kombu.message import Message

from worker.queues import FOREIGN_QUEUE, QUEUES, queue_for

logger = logging.getLogger(__name__)
KEPT_PROPERTIES = ("correlation_id", "reply_to", "priority")


def foreign_queue() -> Queue:
    """Celery's default queue, bound as any Celery client publishes to it."""
    return Queue(FOREIGN_QUEUE, Exchange(FOREIGN_QUEUE, type="direct"), routing_key=FOREIGN_QUEUE)


def consume_foreign_queue(app: Any) -> None:
    """Add Celery's default queue to a worker that consumes the fleet's default one
    (at ``celeryd_after_setup``: before the worker's consumer is made)."""
    from worker.queues import DEFAULT_QUEUE

    queues = app.amqp.queues
    if DEFAULT_QUEUE in queues.consume_from and FOREIGN_QUEUE not in queues.consume_from:
        queues.select_add(foreign_queue())


def destination(message: Message) -> str | None:
    """The queue a message that landed on Celery's default queue belongs on, or None
    when it is not such a message (or not a task message at all)."""
    routing_key = (message.delivery_info or {}).get("routing_key")
    name = (message.headers or {}).get("task")
    if routing_key in QUEUES or not name:
        return None
    return queue_for(str(name))


def forward(app: Any, message: Message, queue: str) -> None:
    """Publish the message as it is onto ``queue``, then acknowledge the original."""
    properties = {k: message.properties[k] for k in KEPT_PROPERTIES if k in message.properties}
    with app.producer_pool.acquire(block=True) as producer:
        producer.publish(
            message.body,
            exchange="",  # straight onto the list named ``queue``
            routing_key=queue,
            headers=message.headers,
            content_type=message.content_type,
            content_encoding=message.content_encoding,
            retry=True,
            **properties,
        )
    message.ack()
    logger.info("forwarded %s[%s] from %s to %s", message.headers.get("task"),
                message.headers.get("id"), FOREIGN_QUEUE, queue)  # fmt: skip

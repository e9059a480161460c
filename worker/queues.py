"""The queues and the tool-name prefixes routed to each, derived from the provider
declarations (worker.providers) plus the fleet's own.

Celery's routes, `fleet up`'s workers and the catalog derive from
:data:`QUEUES`; docker-compose.yml and deploy/ are checked against it by
tests/test_deploy.py. :data:`FOREIGN_QUEUE` is Celery's own default queue,
consumed only to forward what lands there.
"""

from __future__ import annotations

from worker.providers import FLEET_QUEUE, declarations

# The fleet's own work (syncs, housekeeping). Names nobody claims land here
# too, so a worker consumes them and dead-letters them instead of leaving
# them unread in a queue no worker listens on.
DEFAULT_QUEUE = FLEET_QUEUE
# Where any other Celery client publishes a task it knows no route for (``celery
# call``, a bare ``send_task``, celery-node...). Workers of DEFAULT_QUEUE consume
# it too and forward each message to its tool's queue (worker.broker.forward).
FOREIGN_QUEUE = "celery"


def _queues() -> dict[str, tuple[str, ...]]:
    """Each provider's queue with its prefixes (in discovery order), then the fleet's own."""
    queues: dict[str, tuple[str, ...]] = {}
    own: tuple[str, ...] = ("sync.",)
    for declaration in declarations():
        if declaration.queue == DEFAULT_QUEUE:
            own += declaration.prefixes
        else:
            queues[declaration.queue] = queues.get(declaration.queue, ()) + declaration.prefixes
    return {**queues, DEFAULT_QUEUE: own}


QUEUES: dict[str, tuple[str, ...]] = _queues()
# What the operator's views measure: a backlog on FOREIGN_QUEUE means no worker forwards.
WATCHED_QUEUES = (*QUEUES, FOREIGN_QUEUE)


def queue_for(task_name: str) -> str:
    """The queue a task name routes to (by its prefix)."""
    for queue, prefixes in QUEUES.items():
        if task_name.startswith(prefixes):
            return queue
    return DEFAULT_QUEUE

"""The broker side: what reaches a worker that no tool can run, and what the broker loses.

- ``transport``: kombu's Redis transport, keeping raw garbage on a queue as a
  dead letter instead of crashing the worker;
- ``intake``: the worker's consumer, keeping undecodable, refused and
  unknown-task messages as dead letters before Celery drops them;
- ``reprs``: argument reprs and failures masked in events, logs and Flower;
- ``sent``: ``task-sent`` events in batches;
- ``forward``: what other Celery clients leave on Celery's default queue, sent on;
- ``delayed``: messages with a future ETA, waiting in a sorted set;
- ``recovery``, ``upkeep``: dead workers' messages back, from each worker's
  background thread;
- ``lost``: runs whose messages the broker lost, published again.
"""

from kombu.transport import TRANSPORT_ALIASES

GUARDED_TRANSPORT = "worker.broker.transport:Transport"


def register_transport() -> None:
    """Make ``redis://`` and ``rediss://`` broker URLs use the guarded transport.

    Set as ``broker_transport`` instead, the class path would become the URL
    scheme that Celery reports (``worker.broker.transport:Transport://...``),
    and Flower refuses a scheme it does not know: no queue lengths.
    """
    TRANSPORT_ALIASES.update(redis=GUARDED_TRANSPORT, rediss=GUARDED_TRANSPORT)

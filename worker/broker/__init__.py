"""The broker side: what reaches a worker that no tool can run.

- ``transport``: kombu's Redis transport, keeping raw garbage on a queue as a
  dead letter instead of crashing the worker;
- ``intake``: the worker's consumer, keeping undecodable, refused and
  unknown-task messages as dead letters before Celery drops them.
"""

"""Celery's Redis result backend, without two costs it adds to every run.

What callers see is unchanged (``AsyncResult.get()``, Flower's result API:
a key per run with an expiry, and a PUBLISH that wakes waiting callers).
What is gone, for a run's final state only:

- the read before the write: stock Celery first GETs the stored state so a
  late state never overwrites a SUCCESS. A final state here is written once
  per execution, and a redelivered message of a final run answers with the
  same outcome from the ledger (worker.tools.policy), so the read buys
  nothing; states before the final one keep it;
- MULTI/EXEC around SETEX + PUBLISH: two commands that are sent together
  anyway, and a waiting caller that misses the PUBLISH finds the key.

And one round trip is shared: the run's completion event (worker.events),
held back by the task, goes in the same pipeline as its result. A publisher
subscribes to a result's channel when it asks for the result, not when it
publishes (Celery's default): most calls are never waited on by their
publisher (agents follow completion events), and a waiter that subscribes
late reads the stored key, as Celery's waiters already do.

Measured on a no-op drain, the stock store took ~15% of a worker's GIL time.
"""

from __future__ import annotations

from typing import Any

from celery import states
from celery.backends.redis import RedisBackend
from celery.exceptions import BackendStoreError
from kombu.utils.encoding import bytes_to_str

from worker import events

# Selects this class for a redis:// URL in Celery's ``result_backend`` setting.
BACKEND = "worker.broker.results:FleetResultBackend"


class FleetResultBackend(RedisBackend):
    def on_task_call(self, producer: Any, task_id: str) -> None:
        """No SUBSCRIBE at publish: ``AsyncResult.get()`` subscribes, then reads the key."""

    def _store_result(
        self,
        task_id: str,
        result: Any,
        state: str,
        traceback: str | None = None,
        request: Any = None,
        **kwargs: Any,
    ) -> Any:
        if state not in states.READY_STATES:
            return super()._store_result(task_id, result, state, traceback, request, **kwargs)
        meta = self._get_result_meta(
            result=result, state=state, traceback=traceback, request=request
        )
        meta["task_id"] = bytes_to_str(task_id)
        try:
            self._set_with_state(self.get_key_for_task(task_id), self.encode(meta), state)
        except BackendStoreError as exc:
            raise BackendStoreError(str(exc), state=state, task_id=task_id) from exc
        return result

    def _set(self, key: str, value: Any, expires: int | None = None) -> None:
        expires = self.expires if expires is None else expires
        with self.client.pipeline(transaction=False) as pipe:
            if expires:
                pipe.setex(key, expires, value)
            else:
                pipe.set(key, value)
            pipe.publish(key, value)
            announced = events.add_deferred(pipe)
            pipe.execute()
        events.sent(announced)


def backend_url(url: str) -> str:
    """Celery's ``result_backend`` for ``url``: this class for Redis, anything else as is."""
    scheme = url.partition("://")[0]
    return f"{BACKEND}+{url}" if scheme in ("redis", "rediss") else url

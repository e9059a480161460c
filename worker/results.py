"""Celery's Redis result backend, without two costs it adds to every run.

What callers see is unchanged (``AsyncResult.get()``, Flower's result API:
a key per run with an expiry, and a PUBLISH that wakes waiting callers).
What is gone, for a run's final state only:

- the read before the write: stock Celery first GETs the stored state so a
  late state never overwrites a SUCCESS. A final state here is written once
  per execution, and a redelivered message of a final run answers with the
  same outcome from the ledger (worker.runtime.policy), so the read buys
  nothing. States before the final one (RETRY, when a run is parked or
  retried) keep it, made atomic: stock Celery reads, then writes, and a
  parked run's re-published message can finish on another thread in
  between, its SUCCESS then overwritten by the late RETRY and its waiting
  caller left hanging (seen about once in 300 parks under load). Here the
  read and the write are one WATCHed transaction, and no final state
  (SUCCESS, FAILURE, REVOKED) is overwritten;
- MULTI/EXEC around SETEX + PUBLISH: two commands that are sent together
  anyway, and a waiting caller that misses the PUBLISH finds the key.

And one round trip is shared: the run's completion event (worker.events),
held back by the task, goes in the same pipeline as its result. A publisher
subscribes to a result's channel when it asks for the result, not when it
publishes (Celery's default): most calls are never waited on by their
publisher (agents follow completion events), and a waiter that subscribes
late reads the stored key, as Celery's waiters already do.

A failure's stored exception and traceback are masked (worker.redact), whatever
raised it. Measured on a no-op drain, the stock store took ~15% of a worker's GIL time.
"""

from __future__ import annotations

from typing import Any

from celery import states
from celery.backends.redis import RedisBackend
from celery.exceptions import BackendStoreError
from kombu.utils.encoding import bytes_to_str

from worker import events
from worker.redact import redact, redact_json

# Selects this class for a redis:// URL in Celery's ``result_backend`` setting.
BACKEND = "worker.results:FleetResultBackend"


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
        meta = self._get_result_meta(
            result=result, state=state, traceback=traceback, request=request
        )
        if state in states.EXCEPTION_STATES:  # a failure or retry quotes an exception
            meta["result"] = redact_json(meta["result"])
            meta["traceback"] = redact(traceback) if traceback else traceback
        meta["task_id"] = bytes_to_str(task_id)
        key, value = self.get_key_for_task(task_id), self.encode(meta)
        try:
            if state in states.READY_STATES:
                self._set_with_state(key, value, state)
            else:
                self.ensure(self._set_unless_final, (key, value))
        except BackendStoreError as exc:
            raise BackendStoreError(str(exc), state=state, task_id=task_id) from exc
        return result

    def _set_unless_final(self, key: bytes, value: Any) -> None:
        """Store a state before the final one unless a final one is stored: checked and
        written in one transaction (WATCH: it starts over if the key changed meanwhile)."""
        if isinstance(value, str) and len(value) > self._MAX_STR_VALUE_SIZE:
            raise BackendStoreError("value too large for Redis backend")
        announced: list[dict[str, str]] = []

        def write(pipe: Any) -> None:
            announced.clear()  # a transaction that starts over has sent nothing
            stored = pipe.get(key)
            if stored is not None and self.decode(stored).get("status") in states.READY_STATES:
                return
            pipe.multi()
            announced[:] = self._queue_write(pipe, key, value, self.expires)

        self.client.transaction(write, key)
        events.sent(announced)

    def _set(self, key: str, value: Any, expires: int | None = None) -> None:
        with self.client.pipeline(transaction=False) as pipe:
            expires = self.expires if expires is None else expires
            announced = self._queue_write(pipe, key, value, expires)
            pipe.execute()
        events.sent(announced)

    @staticmethod
    def _queue_write(pipe: Any, key: Any, value: Any, expires: int | None) -> list[Any]:
        """What storing a state is, queued on ``pipe``: the key (with its expiry), the
        PUBLISH that wakes waiting callers and this thread's held-back completion events
        (returned, for ``events.sent`` once the pipeline ran)."""
        pipe.set(key, value, ex=expires or None)
        pipe.publish(key, value)
        return events.add_deferred(pipe)


def backend_url(url: str) -> str:
    """Celery's ``result_backend`` for ``url``: this class for Redis, anything else as is."""
    scheme = url.partition("://")[0]
    return f"{BACKEND}+{url}" if scheme in ("redis", "rediss") else url

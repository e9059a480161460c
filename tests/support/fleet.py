"""A fleet of a test's own: a redis-server no other test or session shares, a Celery
app routed the way the fleet routes (worker.queues), a FleetClient on that app, and
the worker processes the test starts on it. A test may fill, flush, stop or restart
its broker and kill its workers without touching anyone else's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.processes import WorkerProcess
from tests.support.servers import RedisServer


class OwnFleet:
    """Broker, app, client and workers; :meth:`close` stops all of them.

    ``env`` (with the broker's URL in it) is what every worker started later gets;
    a test adds its settings to it before it starts them.
    """

    def __init__(self, directory: Path, env: dict[str, str] | None = None) -> None:
        from celery import Celery

        from worker.client import FleetClient
        from worker.queues import queue_for

        self.directory = directory
        self.broker = RedisServer(directory)
        self.env: dict[str, str] = {"FLEET_BROKER_URL": self.broker.url, **(env or {})}
        self.app = Celery(broker=self.broker.url, backend=self.broker.url)
        self.app.conf.update(task_routes=(lambda name, *a, **k: {"queue": queue_for(name)},))
        self.client = FleetClient(self.app)
        self.workers: list[WorkerProcess] = []

    def redis(self) -> Any:
        """A client on the broker (a ``redis.Redis``)."""
        return self.broker.client()

    def worker(
        self,
        name: str,
        queues: str = "http",
        *,
        env: dict[str, str] | None = None,
        ready: bool = True,
        **options: Any,
    ) -> WorkerProcess:
        """A `fleet worker` on this broker, logging to ``<name>.log``; ``env`` over
        :attr:`env`, ``options`` as :class:`WorkerProcess` takes them. Waits until it
        is ready unless told not to."""
        worker = WorkerProcess(
            self.directory / f"{name}.log",
            {**self.env, **(env or {})},
            queues=queues,
            name=name,
            **options,
        )
        self.workers.append(worker)
        if ready:
            worker.wait_ready()
        return worker

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        # Results never fetched stay subscribed; unsubscribing them later, from the
        # garbage collector, would retry against a server that is gone.
        self.app.backend.result_consumer.subscribed_to.clear()
        self.app.close()
        self.broker.stop()

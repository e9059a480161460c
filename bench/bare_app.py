"""The baseline: a bare Celery app with a no-op task, configured like the fleet's
(same broker, JSON, acks_late, prefetch 1, Redis results) but with no policy or ledger."""

from __future__ import annotations

import os

import httpx
from celery import Celery

broker = os.environ["FLEET_BROKER_URL"]
app = Celery("bare", broker=broker, backend=broker)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    task_default_queue="bare",
)


@app.task(name="bare.noop")
def noop(**params: object) -> dict[str, object]:
    return dict(params)


_http = httpx.Client(timeout=30)


@app.task(name="bare.get")
def get(url: str) -> dict[str, object]:
    """The same HTTP work as http.request, with none of the fleet around it."""
    response = _http.get(url)
    return {"status": response.status_code, "body": response.json()}

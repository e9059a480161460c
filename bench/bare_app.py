"""The baseline: a bare Celery app with a no-op task and the same Celery settings
as the fleet's (broker, serialization, acks, prefetch, events, Redis results), but
the stock kombu transport and consumer and no tool policy or ledger.

``BARE_RESULT_BACKEND`` swaps the result backend (Celery's SQLAlchemy backend on
the same Postgres, for the comparison with results kept in a database)."""

from __future__ import annotations

import os

import httpx
from celery import Celery

broker = os.environ["FLEET_BROKER_URL"]
app = Celery("bare", broker=broker, backend=os.environ.get("BARE_RESULT_BACKEND") or broker)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_accept_content=["json"],
    broker_transport_options={"visibility_timeout": 3600},
    result_expires=86_400,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_acks_on_failure_or_timeout=True,
    task_send_sent_event=True,
    worker_send_task_events=True,
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

"""The Celery app — wiring only: settings → app, queues, transport, tasks, signals.

Importable as ``worker.app:app`` (so ``celery -A worker.app ...`` works).
The app registers a task per catalog entry when it is finalized (a worker
does so before it consumes), the housekeeping tasks, and the signal handlers.
Choices, and why:

- JSON only, both ways: a pickle message is refused, never executed.
- ``acks_late`` + ``task_reject_on_worker_lost``: a worker dying mid-call
  gives the message back instead of losing it; the ledger counts such
  redeliveries and buries a run lost more than ``FLEET_MAX_REDELIVERIES``
  times, so a task that kills its worker cannot loop forever.
- prefetch 1: one slow provider call must not hold other messages hostage,
  and queue length means what an autoscaler thinks it means.
- the Redis visibility timeout is only the last resort: a dead worker's
  messages come back when it stops beating (worker.broker.recovery), kombu's
  sweep past the timeout restores only what no living worker holds, and a
  countdown longer than a moment waits in Redis's delayed set, not in a worker.
- task events on, so Flower sees every run from ``sent`` to the end.
- the result backend is Redis with an expiry (worker.results: Celery's,
  minus a read and a MULTI per run); Postgres (the ledger) is the
  system of record.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Queue

from worker import (
    errors,  # noqa: F401  (so callers rebuild the fleet's own exception classes)
    housekeeping,
    signals,
)
from worker.broker import register_transport
from worker.queues import DEFAULT_QUEUE, QUEUES, queue_for
from worker.results import backend_url
from worker.runtime.catalog import catalog
from worker.settings import get_settings
from worker.syncs.kinds import sync_kinds


def route_by_prefix(name: str, args: Any, kwargs: Any, options: Any, **_: Any) -> dict[str, str]:
    """Celery router: a tool's queue follows from its name (see worker.queues)."""
    return {"queue": queue_for(name)}


def create_app() -> Celery:
    settings = get_settings()
    # redis:// URLs get the transport subclass that keeps raw garbage pushed onto a
    # queue as a dead letter instead of crashing the worker. Registered under the
    # scheme itself, so URLs stay redis:// and Flower still reads queue lengths.
    register_transport()
    # Argument reprs and failures (task events, Flower) are masked: worker.broker.reprs.
    celery_app = Celery(
        "toolfleet",
        amqp="worker.broker.reprs:FleetAMQP",
        events="worker.broker.reprs:FleetEvents",
    )
    celery_app.conf.update(
        broker_url=settings.broker_url,
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout_seconds,
            # kombu sweeps for messages of dead workers every interval x throttle
            # seconds (100 s by default); sweep on every tick, a tenth of the
            # visibility timeout apart, so recovery time follows the setting.
            "unacked_restore_interval": min(
                60.0, max(1.0, settings.visibility_timeout_seconds / 10)
            ),
            "unacked_restore_throttle": 1,
        },
        broker_connection_retry_on_startup=True,
        result_backend=backend_url(settings.effective_result_backend),
        result_backend_transport_options={
            "visibility_timeout": settings.visibility_timeout_seconds,
            # Celery's default keeps a caller retrying for ~20 s before it says the
            # backend is down; an agent (and `fleet call`) wants to know in seconds.
            "retry_policy": {
                "max_retries": 3,
                "interval_start": 0,
                "interval_step": 0.5,
                "interval_max": 1,
            },
        },
        result_expires=settings.result_expires_seconds,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_queues=[Queue(name) for name in QUEUES],
        task_default_queue=DEFAULT_QUEUE,
        task_create_missing_queues=False,
        task_routes=(route_by_prefix,),
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        task_send_sent_event=True,
        worker_send_task_events=True,
        worker_prefetch_multiplier=1,
        worker_consumer="worker.broker.intake:FleetConsumer",
        worker_hijack_root_logger=True,
        worker_redirect_stdouts_level="INFO",
        beat_schedule=_beat_schedule(),
        # Beat's schedule lives in Redis behind a leader lock (celery-redbeat): a
        # second beat process waits for the lock instead of scheduling everything twice.
        beat_scheduler="redbeat.RedBeatScheduler",
        redbeat_redis_url=settings.broker_url,
        redbeat_key_prefix="fleet:beat:",
        redbeat_lock_timeout=30,
        beat_max_loop_interval=5,
    )
    for name, func in housekeeping.TASKS.items():
        # No task events: Flower's task list is for tool calls, not a drain every 30 s.
        # Registered now (lazy=False), so a publisher knows them without finalizing.
        celery_app.task(name=name, ignore_result=True, shared=False, send_events=False, lazy=False)(
            func
        )
    celery_app.on_after_finalize.connect(register_tools, weak=False)
    signals.connect()
    return celery_app


def register_tools(sender: Celery, **_: Any) -> None:
    """Register the Celery task of every catalog entry and of every sync kind (when
    the app is finalized); both run under the one tool policy. Imported here: a
    process that only publishes never finalizes the app, nor loads the policy and
    the ledger behind it."""
    from worker.runtime.policy import tool_task
    from worker.syncs.runner import sync_spec

    specs = [*catalog().values(), *(sync_spec(kind) for kind in sync_kinds().values())]
    for spec in specs:
        # Params validators are built on first use (worker.runtime.params.params_config):
        # build them here, once, rather than in the first calls of a threads pool.
        spec.params_model.model_rebuild()
        sender.register_task(tool_task(spec))


def _beat_schedule() -> dict[str, Any]:
    from beat_schedule import build_schedule  # top-level module, declared from settings

    return build_schedule(get_settings())


app = create_app()

"""Celery signal handlers: process lifecycle, log redaction, ``queued`` rows.

:func:`connect` is called when the app is created (:func:`worker.app.create_app`),
so they hold in every process that loads the app: workers, beat, Flower and
agents' own publishers.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import signals

from worker import housekeeping
from worker.ledger.errors import LedgerUnavailable
from worker.ledger.queued import record_queued
from worker.ledger.refs import RunRef
from worker.queues import queue_for
from worker.redact import install_log_redaction

logger = logging.getLogger(__name__)
QUEUED_ROW_BACKOFF_SECONDS = 30.0
_skip_queued_rows_until = 0.0


def connect() -> None:
    """Connect every handler below (idempotent: each has a dispatch uid)."""
    for signal, handler in (
        (signals.worker_init, refuse_unmigrated_database),
        (signals.worker_init, answer_configuration_questions),
        (signals.worker_process_init, fresh_engine_in_child),
        (signals.after_setup_logger, redact_logs),
        (signals.after_setup_logger, one_short_line_per_run),
        (signals.after_setup_task_logger, redact_logs),
        (signals.after_task_publish, record_published),
        (signals.worker_ready, drain_outbox_on_start),
        (signals.celeryd_after_setup, forward_from_celerys_default_queue),
        (signals.celeryd_after_setup, start_broker_upkeep),
        (signals.celeryd_after_setup, load_sdks_of_served_queues),
        (signals.worker_shutdown, stop_broker_upkeep),
    ):
        signal.connect(handler, weak=False, dispatch_uid=f"toolfleet.{handler.__name__}")


def refuse_unmigrated_database(**_: Any) -> None:
    """A worker on an unmigrated ledger would fail every task: refuse to start instead."""
    from worker.ledger import schema  # Alembic: only where a worker starts (~0.1 s to import)

    try:
        schema.require_migrated()
    except schema.DatabaseNotReady as exc:
        logger.critical("%s", exc)
        raise SystemExit(f"toolfleet: {exc}") from None


def answer_configuration_questions(**_: Any) -> None:
    """`fleet doctor` asks the workers how they are configured (worker.control)."""
    import worker.control  # noqa: F401  (registers its remote-control command)


def forward_from_celerys_default_queue(instance: Any = None, **_: Any) -> None:
    """Workers of the default queue also take what other Celery clients leave on
    Celery's (worker.broker.forward)."""
    from worker.broker.forward import consume_foreign_queue

    consume_foreign_queue(instance.app)


def load_sdks_of_served_queues(instance: Any = None, **_: Any) -> None:
    """The SDKs of the providers this worker's queues serve, loaded before its pool
    starts; the others stay unloaded (worker.runtime.sdk)."""
    from worker.runtime.sdk import load_for_queues

    app = instance.app
    specs = [task.spec for task in app.tasks.values() if hasattr(task, "spec")]
    loaded, unloaded = load_for_queues(specs, app.amqp.queues.consume_from)
    queues = ", ".join(sorted(app.amqp.queues.consume_from))
    logger.info(
        "queues %s: provider SDKs loaded: %s; not loaded: %s",
        queues,
        ", ".join(loaded) or "none",
        ", ".join(unloaded) or "none",
    )


_upkeep: Any = None


def start_broker_upkeep(instance: Any = None, **_: Any) -> None:
    """Heartbeat, dead workers' messages and due delayed messages (worker.broker.upkeep);
    before the consumer starts, so every message this worker holds is tracked."""
    global _upkeep
    from worker.broker.upkeep import Upkeep
    from worker.settings import get_settings

    _upkeep = Upkeep(instance.app, get_settings().heartbeat_timeout_seconds)
    _upkeep.start()


def stop_broker_upkeep(**_: Any) -> None:
    if _upkeep is not None:
        _upkeep.stop()


def fresh_engine_in_child(**_: Any) -> None:
    from worker.ledger import db

    db.dispose_after_fork()


def redact_logs(logger: logging.Logger, **_: Any) -> None:
    install_log_redaction(logger)


class _WithoutResult(logging.Filter):
    """Celery's per-run success line without the result: results belong to the ledger,
    and a page of issues repeated in the log costs a worker time and disk."""

    def filter(self, record: logging.LogRecord) -> bool:
        from celery.app.trace import LOG_SUCCESS

        if record.msg == LOG_SUCCESS:
            record.msg = "Task %(name)s[%(id)s] succeeded in %(runtime).3fs"
        return True


def one_short_line_per_run(loglevel: int | str = logging.INFO, **_: Any) -> None:
    """Below DEBUG, a run logs one short line, not two with its result: no "received"
    line (Celery checks this level once, when the worker starts consuming, so the
    hot path does not even build it) and the success line without the result.
    Failures, retries and parks are logged as before; at DEBUG, everything is."""
    level = logging.getLevelName(loglevel) if isinstance(loglevel, str) else loglevel
    if isinstance(level, int) and level <= logging.DEBUG:
        return
    logging.getLogger("celery.worker.strategy").setLevel(logging.WARNING)
    trace = logging.getLogger("celery.app.trace")
    if not any(isinstance(f, _WithoutResult) for f in trace.filters):
        trace.addFilter(_WithoutResult())


def _is_tool_call(name: str | None) -> bool:
    """Tool calls get run rows; the fleet's housekeeping and Celery's own tasks do not."""
    if not name or "." not in name:
        return False
    return name not in housekeeping.TASKS and not name.startswith("celery.")


def record_published(
    sender: str | None = None,
    headers: Any = None,
    body: Any = None,
    routing_key: str | None = None,
    **_: Any,
) -> None:
    """Make a newly published tool call visible as ``queued`` (best effort).

    Retries and parks re-publish the same id; only a first publish inserts.
    A publisher without ledger access still publishes: the worker writes the
    row when it starts the run.
    """
    global _skip_queued_rows_until
    headers = headers or {}
    if not _is_tool_call(sender) or headers.get("retries"):
        return
    if time.monotonic() < _skip_queued_rows_until:
        return  # the ledger just failed here: don't make every publish wait on it
    kwargs = body[1] if isinstance(body, list | tuple) and len(body) > 1 else None
    try:
        record_queued(
            RunRef(
                run_id=headers["id"],
                tool=sender,
                queue=routing_key or queue_for(sender),
                params=kwargs if isinstance(kwargs, dict) else None,
                idempotency_key=headers.get("idempotency_key"),
                agent_task_id=headers.get("agent_task_id"),
                step_id=headers.get("step_id"),
            )
        )
    except LedgerUnavailable as exc:
        # An unreachable database can take the connect timeout (5 s) to fail:
        # stop trying for a while rather than slow every publish by that much.
        _skip_queued_rows_until = time.monotonic() + QUEUED_ROW_BACKOFF_SECONDS
        logger.debug("queued row for %s not written: %s", headers.get("id"), exc)
    except Exception as exc:  # noqa: BLE001 — publishing already succeeded; never fail it
        # One row the database refused (a value it cannot keep) is not an outage: the
        # next publish writes its row as usual. The worker records this run when it starts.
        logger.warning("queued row for %.80s not written: %s", headers.get("id"), exc)


def drain_outbox_on_start(**_: Any) -> None:
    """Writes kept while Postgres was down are applied as soon as a worker starts."""
    from worker.ledger import outbox

    try:
        outbox.drain()
    except Exception:  # the worker must start anyway; beat's drain will retry
        logger.exception("could not drain the ledger outbox")

"""Following one run from the command line (``fleet call --wait``, ``fleet dlq replay --wait``).

The result comes from Celery's result backend; while it has not come, the
run's row in the ledger says what is happening, and each change of it is
told on stderr (stdout keeps the result, for programs): queued → running →
parked or retrying, with the reason. A run still queued after a moment gets
one control ping: if no worker consumes its queue, waiting is pointless
unless one is started, and the user is told how.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from worker.cli.output import echo_json, fail

POLL_SECONDS = 0.5
PING_AFTER_SECONDS = 1.0


def follow(handle: Any, queue: str, timeout: float) -> None:
    """Wait for ``handle`` (a front.client.ToolCall): print its result as JSON, or its
    error and exit 1; on timeout say where the run stands and exit 1."""
    from celery.exceptions import TimeoutError as CeleryTimeout

    from worker.errors import ToolError
    from worker.front.follow import news

    deadline = time.monotonic() + timeout
    started, pinged = time.monotonic(), False
    status, told = "", ""
    try:
        while True:
            try:
                result = handle.get(
                    timeout=min(POLL_SECONDS, max(0.01, deadline - time.monotonic()))
                )
            except CeleryTimeout:
                pass
            except ToolError as exc:
                echo_json({"id": handle.id, "error": exc.to_dict()})
                sys.exit(1)
            else:
                echo_json({"id": handle.id, "result": result})
                return
            status, told = news(handle.id, status, told, _tell)
            waited = time.monotonic() - started
            if not pinged and status in ("", "queued") and waited > PING_AFTER_SECONDS:
                pinged = True
                _warn_if_unconsumed(queue)
            if time.monotonic() >= deadline:
                fail(
                    f"no result within {timeout:g}s (run {status or 'not yet recorded'}); "
                    f"the run goes on: fleet run {handle.id}"
                )
    finally:
        handle.release()


def _tell(line: str) -> None:
    click.echo(f"… {line}", err=True)


def _warn_if_unconsumed(queue: str) -> None:
    from worker.app import app
    from worker.ops.inspect import workers_by_queue

    try:
        consumers = workers_by_queue(app, timeout=1.0).get(queue, [])
    except Exception:  # noqa: BLE001 — a hint only: the wait itself goes on
        return
    if not consumers:
        click.echo(
            f"no worker consumes queue '{queue}': start the fleet with `fleet up` "
            f"(or one worker: `fleet worker -Q {queue}`); waiting anyway",
            err=True,
        )

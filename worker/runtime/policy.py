"""The tool policy: the one base Task every tool runs under.

One execution of a tool message, in order:

1. claim the run for this execution (worker.runtime.claim, worker.ledger.claims).
   A run found already final is answered from the ledger; one that another
   live execution holds is not called twice: this delivery parks; one whose
   executor died is taken over and counted as a redelivery, buried past
   ``FLEET_MAX_REDELIVERIES``;
2. validate the params (keyword arguments only; the fleet-wide rules of
   worker.runtime.params, then the tool's model) — invalid: dead letter now;
3. idempotency: another run holding the same key answers for this one
   (finished: its outcome is copied; still going: this one parks, for at
   most ``FLEET_DUPLICATE_WAIT_SECONDS``);
4. the governor admits the call against every rate scope it takes and its
   provider's circuit, or reserves a later slot and the run parks until then
   (worker.runtime.governor);
5. call the provider with the SDK client built from settings, within a total
   deadline (worker.runtime.deadline); after an ambiguous failure a write
   first looks for its own earlier effect (worker.runtime.reconcile); then
   tell the governor what came back (a failure to do so never fails the call);
6. classify: success is recorded; a ``Retryable`` error is retried with
   exponential backoff + full jitter, never sooner than ``Retry-After``;
   a ``Fatal`` error, the last attempt, or a wait past ``FLEET_MAX_WAIT_SECONDS``
   buries the run as a dead letter.

Whatever else goes wrong — an exception no step foresaw — ends the run too
(worker.runtime.endings, the guard): retried if the provider had not been called
yet, otherwise dead as ``InternalError`` with its traceback, its completion
event published, and the caller's ``AsyncResult`` raising the error. No run
is ever left ``running`` by a live worker.

Parking re-schedules the same task id with a countdown (it is not an
attempt and never sleeps in a worker process). One countdown is at most
``FLEET_PARK_MAX_SECONDS``; a longer wait travels in the
``fleet_not_before`` header and is served in several parks.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from celery.exceptions import Retry
from pydantic_core import to_jsonable_python

from worker import events, ledger
from worker.errors import BadParams, Conflict, Fatal, ToolError, from_dict
from worker.ledger import Begun, RunRef, outbox
from worker.runtime import claim, telemetry
from worker.runtime.admission import Admission
from worker.runtime.calling import Progress, call_provider
from worker.runtime.catalog import ToolSpec
from worker.runtime.context import CallContext, ParkRequest
from worker.runtime.endings import Endings
from worker.runtime.headers import NOT_BEFORE_HEADER, correlation, custom_headers, number, refusal
from worker.settings import Settings, get_settings

logger = logging.getLogger(__name__)

DUPLICATE_PARK_SECONDS = 2.0


class ToolTask(Endings):
    """Base class of every tool task; ``spec`` is set per tool."""

    spec: ToolSpec
    acks_late = True
    max_retries = None  # the policy counts attempts itself (parks are not attempts)
    throws = (ToolError,)  # expected outcomes: logged without a traceback
    typing = False  # arguments are checked by the policy, with a dead letter

    def run(self, *args: Any, **params: Any) -> dict[str, Any]:
        events.defer()  # this run's events go with its result (worker.events)
        request = self.request
        headers = custom_headers(request)
        ref = RunRef(
            run_id=request.id,
            tool=self.name,
            queue=(request.delivery_info or {}).get("routing_key") or self.spec.queue,
            worker=request.hostname,
            params=params,
            executor=claim.executor(),
            **correlation(headers),
        )
        progress = Progress()
        try:
            return self._run(ref, progress, args, params, headers)
        except (ToolError, Retry):
            raise
        except Exception as exc:  # noqa: BLE001 — the one guard: every run ends final
            try:
                self._unforeseen(ref, progress, exc, headers)
            except ToolError:
                started = progress.begun.started_at if progress.begun else None
                telemetry.run_ended(self.name, "dead", started)
                raise
        finally:
            claim.release(ref.run_id)

    def after_return(self, *args: Any, **kwargs: Any) -> None:
        events.flush_deferred()  # those the result store did not send

    # -- the steps --------------------------------------------------------------

    def _run(
        self,
        ref: RunRef,
        progress: Progress,
        args: tuple[Any, ...],
        params: dict[str, Any],
        headers: dict[str, Any],
    ) -> dict[str, Any]:
        not_before = number(headers.get(NOT_BEFORE_HEADER))
        if not_before > time.time():
            self._park(ref, None, not_before - time.time(), headers, "its countdown goes on")
        refused = refusal(headers)
        if refused is not None:
            self._bury(ref, None, refused, headers, attempted=False)
        try:
            begun = claim.claim(ref, self._policy().countdown(self.request.retries + 1))
        except ParkRequest as request:  # not claimed: nothing of this run is ours to write
            self._park(ref, None, request.wait, headers, request.reason)
        progress.begun = begun
        if begun.already_final:  # a redelivered message: answer (and announce), count nothing
            ledger.announce_again(ref, begun)
            return _answer(begun.result, begun.error)
        try:
            result = self._execute(ref, begun, progress, args, params, headers)
        except ToolError:
            telemetry.run_ended(self.name, "dead", begun.started_at)
            raise
        telemetry.run_ended(self.name, "succeeded", begun.started_at)
        return result

    def _execute(
        self,
        ref: RunRef,
        begun: Begun,
        progress: Progress,
        args: tuple[Any, ...],
        params: dict[str, Any],
        headers: dict[str, Any],
    ) -> dict[str, Any]:
        settings = get_settings()
        if begun.redeliveries > settings.max_redeliveries:
            error = Fatal(f"lost {begun.redeliveries} times with its worker")
            self._bury(ref, begun, error, headers)
        if args:
            error = BadParams("positional arguments are refused: pass params as kwargs")
            self._bury(ref, begun, error, headers, attempted=False)
        progress.step = "validate"
        try:
            parsed = self.spec.parse(params)
        except BadParams as exc:
            self._bury(ref, begun, exc, headers, attempted=False)
        progress.step = "idempotency"
        if begun.holder is not None:
            self._follow_holder(ref, begun, headers, settings)
            holder = begun.holder
            return _answer(holder.result, holder.error)

        attempt = progress.attempt = begun.attempts + 1
        call = CallContext(
            run_id=ref.run_id, tool=self.name, attempt=attempt, execution=begun.execution
        )
        progress.step = "admit"
        admission = Admission(self.spec, parsed, ref.run_id, begun, headers)
        try:
            admission.first()
            progress.started_at = started_at = datetime.now(UTC).isoformat()
            result, error, trace = call_provider(
                self.spec, settings, parsed, begun, call, admission, progress
            )
        except ParkRequest as request:
            self._park(ref, begun, request.wait, {**headers, **request.headers}, request.reason)

        progress.step = "record"
        if error is None:
            return outbox.write(
                "succeed",
                run_id=ref.run_id,
                execution=begun.execution,
                result=_jsonable(result),
                attempt=attempt,
                started_at=started_at,
            )
        maybe_written = self.spec.reconcile is not None and (
            admission.still_unchecked(call) or bool(getattr(error, "ambiguous", False))
        )
        self._fail(ref, begun, error, attempt, headers, trace, started_at, maybe_written)

    def _follow_holder(
        self, ref: RunRef, begun: Begun, headers: dict[str, Any], settings: Settings
    ) -> None:
        """Step 3: the run holding this call's idempotency key answers for it; returns
        once its outcome is copied, parks while it goes on, buries past the wait."""
        holder = begun.holder
        assert holder is not None
        if holder.status in ledger.FINAL_STATUSES:
            outbox.write(
                "copy_outcome", run_id=ref.run_id, execution=begun.execution, holder=holder
            )
            return
        waited = (datetime.now(UTC) - begun.started_at).total_seconds() if begun.started_at else 0
        if waited > settings.duplicate_wait_seconds:
            error = Conflict(
                f"run {holder.run_id} holds its idempotency key and has not finished after "
                f"{waited:.0f}s (FLEET_DUPLICATE_WAIT_SECONDS={settings.duplicate_wait_seconds:g})",
                {"holder": holder.run_id, "holder_status": holder.status},
            )
            self._bury(ref, begun, error, headers, attempted=False)
        reason = f"run {holder.run_id} holds its idempotency key"
        self._park(ref, begun, DUPLICATE_PARK_SECONDS, headers, reason)


def _jsonable(result: Any) -> dict[str, Any]:
    value = to_jsonable_python(result, fallback=str)
    return value if isinstance(value, dict) else {"value": value}


def _answer(result: dict[str, Any] | None, error: dict[str, Any] | None) -> dict[str, Any]:
    """Replay a recorded outcome: the stored result, or the stored error raised."""
    if error is not None and result is None:
        raise from_dict(error)
    return result or {}


def tool_task(spec: ToolSpec) -> ToolTask:
    """The Celery task that runs ``spec`` under the policy (the app registers it)."""
    task_cls = type(
        spec.name,
        (ToolTask,),
        {"name": spec.name, "spec": spec, "__module__": spec.func.__module__},
    )
    return task_cls()

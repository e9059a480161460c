"""The tool policy: the one base Task every tool runs under.

One execution of a tool message, in order:

1. ledger: mark the run ``running`` (a run found already final is answered
   from the ledger; one found ``running`` was lost by a dead worker and is
   counted as a redelivery, buried past ``FLEET_MAX_REDELIVERIES``);
2. validate the params (keyword arguments only; the fleet-wide rules of
   worker.tools.params, then the tool's model) — invalid: dead letter now;
3. idempotency: another run holding the same key answers for this one
   (finished: its outcome is copied; still going: this one parks);
4. the governor admits the call against every rate scope it takes and its
   provider's circuit, or reserves a later slot and the run parks until then
   (worker.tools.governor);
5. call the provider with the SDK client built from settings (after an
   ambiguous failure a write first looks for its own earlier effect:
   worker.tools.reconcile), then tell the governor what came back;
6. classify: success is recorded; a ``Retryable`` error is retried with
   exponential backoff + full jitter, never sooner than ``Retry-After``;
   a ``Fatal`` error, or the last attempt, buries the run as a dead letter.

Parking re-schedules the same task id with a countdown (it is not an
attempt and never sleeps in a worker process). Countdowns are capped below
the broker's visibility timeout; a longer wait (a Retry-After of an hour)
travels in the ``fleet_not_before`` header and is served in several parks.
"""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import Any, NoReturn

from celery import Task
from pydantic_core import to_jsonable_python

from worker import events, ledger
from worker.errors import (
    BadParams,
    Fatal,
    Retryable,
    ToolError,
    failure_trace,
    from_dict,
)
from worker.ledger import Begun, LedgerUnavailable, RunRef, outbox
from worker.settings import Settings, get_settings
from worker.tools import telemetry
from worker.tools.admission import Admission
from worker.tools.catalog import ToolSpec
from worker.tools.context import CallContext, ParkRequest, calling
from worker.tools.headers import (
    CORRELATION_HEADERS,
    NOT_BEFORE_HEADER,
    custom_headers,
    stored_headers,
)
from worker.tools.reconcile import earlier_write
from worker.tools.retry import RetryPolicy

logger = logging.getLogger(__name__)

DUPLICATE_PARK_SECONDS = 2.0


class ToolTask(Task):
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
            **{k: headers.get(k) for k in CORRELATION_HEADERS},
        )
        not_before = float(headers.get(NOT_BEFORE_HEADER) or 0)
        if not_before > time.time():
            self._park(ref, not_before - time.time(), headers, "its countdown goes on")
        try:
            begun = ledger.begin(ref)
        except LedgerUnavailable as exc:
            # Without the ledger nothing can be recorded: wait, keep the message.
            logger.warning("%s[%s] parked: %s", self.name, ref.run_id, exc)
            wait = self._policy().countdown(request.retries + 1)
            self._park(ref, wait, headers, "ledger unavailable", record=False)
        if begun.already_final:  # a redelivered message: answer (and announce), count nothing
            ledger.announce_again(ref, begun)
            return _answer(begun.result, begun.error)
        try:
            result = self._execute(ref, begun, args, params, headers)
        except ToolError:
            telemetry.run_ended(self.name, "dead", begun.started_at)
            raise
        telemetry.run_ended(self.name, "succeeded", begun.started_at)
        return result

    def after_return(self, *args: Any, **kwargs: Any) -> None:
        events.flush_deferred()  # those the result store did not send

    # -- the steps --------------------------------------------------------------

    def _execute(
        self,
        ref: RunRef,
        begun: Begun,
        args: tuple[Any, ...],
        params: dict[str, Any],
        headers: dict[str, Any],
    ) -> dict[str, Any]:
        settings = get_settings()
        if begun.redeliveries > settings.max_redeliveries:
            self._bury(ref, Fatal(f"lost {begun.redeliveries} times with its worker"), headers)
        if args:
            self._bury(
                ref,
                BadParams("positional arguments are refused: pass params as kwargs"),
                headers,
                attempted=False,
            )
        try:
            parsed = self.spec.parse(params)
        except BadParams as exc:
            self._bury(ref, exc, headers, attempted=False)
        if begun.holder is not None:
            if begun.holder.status in ledger.FINAL_STATUSES:
                outbox.write("copy_outcome", run_id=ref.run_id, holder=begun.holder)
                return _answer(begun.holder.result, begun.holder.error)
            reason = f"run {begun.holder.run_id} holds its idempotency key"
            self._park(ref, DUPLICATE_PARK_SECONDS, headers, reason)

        admission = Admission(self.spec, parsed, ref.run_id, begun, headers)
        attempt = begun.attempts + 1
        call = CallContext(run_id=ref.run_id, tool=self.name, attempt=attempt)
        try:
            admission.first()
            started_at = datetime.now(UTC).isoformat()
            result, error, trace = self._call_provider(settings, parsed, begun, call, admission)
        except ParkRequest as request:
            self._park(ref, request.wait, {**headers, **request.headers}, request.reason)

        if error is None:
            return outbox.write(
                "succeed",
                run_id=ref.run_id,
                result=_jsonable(result),
                attempt=attempt,
                started_at=started_at,
            )
        self._fail(ref, error, attempt, headers, trace, started_at)

    def _call_provider(
        self, settings: Settings, parsed: Any, begun: Begun, call: CallContext, admission: Admission
    ) -> tuple[Any, ToolError | None, str]:
        """``(result, None, "")`` or ``(None, the classified error, its trace)``; an
        earlier attempt's write found stands in for the call (worker.tools.reconcile).
        What came back is reported to the governor; a ParkRequest passes through."""
        provider = self.spec.provider
        client, error, parked = None, None, False
        began = time.monotonic()
        with calling(call):
            try:
                client = provider.connect(settings, getattr(parsed, "credential", "default"))
                call.pacer = lambda: admission.pace(client, call)
                found, note = earlier_write(self.spec, client, parsed, begun)
                result = found if found is not None else self.spec.func(client, parsed)
                return ({**result, "reconcile": note} if note else result), None, ""
            except ParkRequest:
                parked = True  # paced mid-call: not an attempt
                raise
            except ToolError as exc:
                error = exc
                return None, exc, failure_trace(exc, exc)
            except Exception as exc:  # noqa: BLE001 — every SDK failure gets classified
                error = provider.map_error(exc)
                return None, error, failure_trace(exc, error)
            finally:
                admission.learn(client, call, error)
                if not parked:
                    telemetry.provider_called(self.name, time.monotonic() - began)

    def _fail(
        self,
        ref: RunRef,
        error: ToolError,
        attempt: int,
        headers: dict[str, Any],
        trace: str,
        started_at: str,
    ) -> NoReturn:
        policy = self._policy()
        if isinstance(error, Retryable) and attempt < policy.max_attempts:
            countdown = policy.countdown(attempt, error.retry_after)
            outbox.write(
                "schedule_retry",
                run_id=ref.run_id,
                error={**error.to_dict(), "attempt": attempt},
                countdown=countdown,
                started_at=started_at,
            )
            self._reschedule(countdown, headers, error)
        if isinstance(error, Retryable):
            error.details["attempts"] = attempt
        self._bury(ref, error, headers, trace=trace, attempt=attempt, started_at=started_at)

    def _reschedule(
        self, seconds: float, headers: dict[str, Any], exc: Exception | None
    ) -> NoReturn:
        """Re-publish this task id after ``seconds`` (in steps below the visibility timeout)."""
        step = min(seconds, get_settings().park_max_seconds)
        headers = dict(headers)
        if seconds > step:
            headers[NOT_BEFORE_HEADER] = time.time() + seconds
        raise self.retry(countdown=step, exc=exc, headers=headers)

    def _park(
        self,
        ref: RunRef,
        seconds: float,
        headers: dict[str, Any],
        reason: str,
        *,
        record: bool = True,
    ) -> NoReturn:
        telemetry.parked(self.name)
        if record:
            # The park itself is what matters; the row catches up next time.
            with contextlib.suppress(LedgerUnavailable):
                ledger.park(ref.run_id, seconds, reason)
        self._reschedule(seconds, headers, None)

    def _bury(
        self,
        ref: RunRef,
        error: ToolError,
        headers: dict[str, Any],
        *,
        attempted: bool = True,
        trace: str | None = None,
        attempt: int | None = None,
        started_at: str | None = None,
    ) -> NoReturn:
        outbox.write(
            "bury",
            ref=ref,
            error=error.to_dict(),
            traceback=trace,
            headers=stored_headers(headers),
            attempted=attempted,
            attempt=attempt,
            started_at=started_at,
        )
        raise error from None

    # -- helpers ----------------------------------------------------------------------

    def _policy(self) -> RetryPolicy:
        spec = self.spec
        return RetryPolicy.from_settings(
            get_settings(),
            max_attempts=spec.max_attempts,
            base_seconds=spec.backoff_base_seconds,
            cap_seconds=spec.backoff_cap_seconds,
        )


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

"""How an execution of a tool ends when it does not simply succeed: retried, parked,
buried as a dead letter — and, for an exception no step foresaw, the guard.

The base of :class:`worker.runtime.policy.ToolTask`. Every wait is bounded: a
provider's ``Retry-After`` or a park longer than ``FLEET_MAX_WAIT_SECONDS``
buries the run as ``RateLimited`` with the value asked for. Every ending is a
fenced ledger write (worker.ledger.runs) through the outbox, then a
re-publish or the error raised for the caller.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any, NoReturn

from celery import Task

from worker import ledger
from worker.errors import RateLimited, ToolError, failure_trace, internal
from worker.ledger import Begun, LedgerUnavailable, RunRef, outbox
from worker.runtime import telemetry
from worker.runtime.calling import Progress
from worker.runtime.catalog import ToolSpec
from worker.runtime.headers import (
    INTERNAL_RETRIES_HEADER,
    NOT_BEFORE_HEADER,
    number,
    stored_headers,
)
from worker.runtime.retry import RetryPolicy
from worker.settings import get_settings

logger = logging.getLogger(__name__)


class Endings(Task):
    """Retry, park, bury, and the guard (``spec``: the tool's, set per task)."""

    spec: ToolSpec

    def _fail(
        self,
        ref: RunRef,
        begun: Begun,
        error: ToolError,
        attempt: int,
        headers: dict[str, Any],
        trace: str,
        started_at: str | None,
        maybe_written: bool,
    ) -> NoReturn:
        policy = self._policy()
        asked = error.retry_after
        if error.retryable and asked is not None:
            refused = too_long(asked, f"{error.message} — the provider asked", error.details)
            if refused is not None:
                self._bury(ref, begun, refused, headers, trace=trace, attempt=attempt,
                           started_at=started_at)  # fmt: skip
        if error.retryable and attempt < policy.max_attempts:
            countdown = policy.countdown(attempt, asked)
            outbox.write(
                "schedule_retry",
                run_id=ref.run_id,
                execution=begun.execution,
                error={**error.to_dict(), "attempt": attempt},
                countdown=countdown,
                maybe_written=maybe_written,
                started_at=started_at,
            )
            self._reschedule(countdown, headers, error)
        if error.retryable:
            error.details["attempts"] = attempt
        self._bury(ref, begun, error, headers, trace=trace, attempt=attempt, started_at=started_at)

    def _unforeseen(
        self, ref: RunRef, progress: Progress, exc: Exception, headers: dict[str, Any]
    ) -> NoReturn:
        """The guard: an exception no step classified ends the run all the same."""
        error = internal(exc, step=progress.step, before_call=not progress.called)
        trace = failure_trace(exc, error)
        logger.error("%s[%s] %s", self.name, ref.run_id, error.message, exc_info=exc)
        begun = progress.begun
        if begun is None or begun.already_final:
            # Not claimed (the claim itself failed, or the run had ended): tried again a
            # few times, counted in a header since no row of ours counts it, then buried
            # unfenced (a final run stays as it is).
            tries = int(number(headers.get(INTERNAL_RETRIES_HEADER))) + 1
            if tries < self._policy().max_attempts:
                headers = {**headers, INTERNAL_RETRIES_HEADER: tries}
                self._reschedule(self._policy().countdown(tries), headers, error)
            self._bury(ref, None, error, headers, attempted=False, trace=trace)
        attempt = progress.attempt or begun.attempts + 1
        started_at = progress.started_at
        if error.retryable:
            self._fail(ref, begun, error, attempt, headers, trace, started_at, begun.maybe_written)
        self._bury(ref, begun, error, headers, trace=trace, attempt=attempt, started_at=started_at)

    def _reschedule(
        self, seconds: float, headers: dict[str, Any], exc: Exception | None
    ) -> NoReturn:
        """Re-publish this task id after ``seconds`` (in steps of FLEET_PARK_MAX_SECONDS)."""
        step = min(seconds, get_settings().park_max_seconds)
        headers = dict(headers)
        if seconds > step:
            headers[NOT_BEFORE_HEADER] = time.time() + seconds
        raise self.retry(countdown=step, exc=exc, headers=headers)

    def _park(
        self,
        ref: RunRef,
        begun: Begun | None,
        seconds: float,
        headers: dict[str, Any],
        reason: str,
    ) -> NoReturn:
        """Wait ``seconds`` (not an attempt); recorded when this execution holds the run
        (``begun``). A wait past FLEET_MAX_WAIT_SECONDS is no wait: the run is dead."""
        refused = too_long(seconds, f"parked ({reason})", {"reason": reason})
        if refused is not None:
            self._bury(ref, begun, refused, headers, attempted=False)
        telemetry.parked(self.name)
        if begun is not None:
            # The park itself is what matters; the row catches up next time.
            with contextlib.suppress(LedgerUnavailable):
                ledger.park(ref.run_id, seconds, reason, execution=begun.execution)
        self._reschedule(seconds, headers, None)

    def _bury(
        self,
        ref: RunRef,
        begun: Begun | None,
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
            execution=begun.execution if begun is not None else None,
            error=error.to_dict(),
            traceback=trace,
            headers=stored_headers(headers),
            attempted=attempted,
            attempt=attempt,
            started_at=started_at,
        )
        raise error from None

    def _policy(self) -> RetryPolicy:
        spec = self.spec
        return RetryPolicy.from_settings(
            get_settings(),
            max_attempts=spec.max_attempts,
            base_seconds=spec.backoff_base_seconds,
            cap_seconds=spec.backoff_cap_seconds,
        )


def too_long(seconds: float, what: str, details: dict[str, Any]) -> RateLimited | None:
    """A wait past FLEET_MAX_WAIT_SECONDS (``inf`` included) as the run's end, or None."""
    cap = get_settings().max_wait_seconds
    if seconds <= cap:
        return None
    return RateLimited(
        f"{what}: a wait of {seconds:g}s, longer than FLEET_MAX_WAIT_SECONDS ({cap:g}s)",
        {**details, "retry_after": None, "asked_wait": repr(seconds)},
    )

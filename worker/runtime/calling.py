"""Step 5 of the policy: the provider call, within its deadline, reported to the governor.

The SDK client is built from settings; after an ambiguous failure a write first
looks for its own earlier effect (worker.runtime.reconcile). The whole call runs
under a total deadline (worker.runtime.deadline); a run that makes several calls
(a sync, page after page) gets a fresh deadline, the governor's next turn and
a renewed claim before each further one. Whatever came back is classified:
an exception no mapping foresaw becomes an ``InternalError`` that says at
which step it happened and whether the tool had started (:class:`Progress`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from worker.errors import InternalError, ToolError, Unavailable, failure_trace, internal
from worker.ledger import Begun
from worker.runtime import claim, deadline, telemetry
from worker.runtime.admission import Admission
from worker.runtime.catalog import ToolSpec
from worker.runtime.context import CallContext, ParkRequest, calling
from worker.runtime.reconcile import earlier_write
from worker.settings import Settings


@dataclass
class Progress:
    """How far one execution got: what its unforeseen failure must take into account."""

    step: str = "begin"
    begun: Begun | None = None
    called: bool = False  # the tool function started: the provider may have acted
    attempt: int | None = None
    started_at: str | None = None


def call_provider(
    spec: ToolSpec,
    settings: Settings,
    parsed: Any,
    begun: Begun,
    call: CallContext,
    admission: Admission,
    progress: Progress,
) -> tuple[Any, ToolError | None, str]:
    """``(result, None, "")`` or ``(None, the classified error, its trace)``; an
    earlier attempt's write found stands in for the call (worker.runtime.reconcile).
    What came back is reported to the governor; a ParkRequest passes through."""
    provider = spec.provider
    client, error, parked = None, None, False
    limit = settings.provider_deadline_seconds
    began = time.monotonic()
    with calling(call), deadline.armed(limit) as cutoff:
        try:
            progress.step = "connect"
            client = provider.connect(settings, getattr(parsed, "credential", "default"))

            def pace() -> None:  # before each further provider call of this run
                admission.pace(client, call)
                deadline.rearm(cutoff, limit)
                claim.renew(call.run_id, begun.execution)

            call.pacer = pace
            progress.step = "reconcile"
            found, note = earlier_write(spec, client, parsed, begun)
            call.lookup_done = True
            if found is not None:
                result = found
            else:
                progress.step, progress.called = "the call", True
                result = spec.func(client, parsed)
            return ({**result, "reconcile": note} if note else result), None, ""
        except ParkRequest:
            parked = True  # paced mid-call: not an attempt
            raise
        except ToolError as exc:
            error = past_deadline(cutoff) or exc
            return None, error, failure_trace(exc, error)
        except Exception as exc:  # noqa: BLE001 — every SDK failure gets classified
            step, progress.step = progress.step, "classify"
            error = past_deadline(cutoff) or provider.map_error(exc)
            if isinstance(error, InternalError):  # unforeseen: say where, and if it acted
                error = internal(exc, step=step, before_call=not progress.called)
            return None, error, failure_trace(exc, error)
        finally:
            admission.learn(client, call, error)
            if not parked:
                telemetry.provider_called(spec.name, time.monotonic() - began)


def past_deadline(cutoff: deadline.Deadline) -> ToolError | None:
    """The outcome of a call whose connections the deadline cut, however the SDK put it."""
    if not cutoff.fired:
        return None
    return Unavailable(
        f"no complete answer within {cutoff.seconds:g}s (FLEET_PROVIDER_DEADLINE_SECONDS): "
        "the connection was cut",
        {"deadline_seconds": cutoff.seconds},
    )

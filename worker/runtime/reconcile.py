"""Writes that are safe to retry: find an earlier attempt's write instead of repeating it.

Most providers take no idempotency keys, so a write retried after its
response was lost could happen twice. A write tool may declare a
``reconcile`` lookup (see :class:`worker.runtime.catalog.ToolSpec`): before an
attempt, :func:`earlier_write` runs it, but only when an earlier execution
may have written without our knowing — a worker lost mid-call, or an
ambiguous failure (a 5xx, a timeout). A definitive refusal (429, 4xx)
proves nothing was written, so the write simply runs again.

Each such write carries the run that made it under :data:`MARK` (the provider
says only where: a hidden line in a body, message metadata, an entity
property), and its lookup reads from :func:`lookup_since` on.

A lookup the identity may not make (a bot missing a read scope, a 403) never
buries the write: it goes ahead, and the result says
``"reconcile": "skipped: <reason>"``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from worker.errors import InternalError, ToolError
from worker.runtime.catalog import ToolSpec
from worker.runtime.context import current_call

if TYPE_CHECKING:  # not at import: the tools modules import this one, the ledger's is heavy
    from worker.ledger import Begun

logger = logging.getLogger(__name__)
# The name under which a write carries the run id of the run that made it.
MARK = "toolfleet"
# Provider clocks vs ours: a lookup reads from this long before the run began.
CLOCK_SKEW = timedelta(minutes=1)


def lookup_since(started: datetime) -> datetime:
    """Where a lookup reads from, for a run that began at ``started``."""
    return started - CLOCK_SKEW


def run_mark() -> str:
    """What this run's writes carry under :data:`MARK`: its run id."""
    return current_call().run_id


def earlier_write(
    spec: ToolSpec, client: Any, params: Any, begun: Begun
) -> tuple[dict[str, Any] | None, str | None]:
    """``(the earlier write's result or None, a note for the run or None)``.

    Raises the lookup's own error when it is retryable (the provider is down:
    writing blind could double the write).
    """
    if spec.reconcile is None or not maybe_written(begun):
        return None, None
    run_id = current_call().run_id
    try:
        found = spec.reconcile(client, params, begun.started_at or datetime.now(UTC))
    except Exception as exc:
        refused = exc if isinstance(exc, ToolError) else spec.provider.map_error(exc)
        if refused.retryable or isinstance(refused, InternalError):
            raise refused from exc  # no blind write while the lookup cannot answer
        logger.warning(
            "%s[%s]: reconcile lookup refused (%s); writing without it",
            spec.name,
            run_id,
            refused.message,
        )
        return None, f"skipped: {refused.message}"
    if found is None:
        return None, None
    logger.info("%s[%s]: an earlier attempt's write found; not repeated", spec.name, run_id)
    return {**found, "reconciled": True}, None


def maybe_written(begun: Begun) -> bool:
    """Whether an earlier execution of this run may have written without our knowing,
    and no lookup has checked since (the ledger's ``maybe_written``: set by an ambiguous
    failure or a lost execution, kept across attempts until a lookup completes)."""
    return begun.maybe_written

"""The fleet-wide rate governor, as the tool policy sees it.

- ``limits``: limits in text form and the budgets a call's scopes take;
- ``governor``: :class:`Governor` — acquire (admit, or reserve and park)
  and learn (Retry-After, rate-limit headers, circuit outcomes), each one
  Lua script (``acquire.lua``, ``learn.lua``) in one Redis round trip;
- ``state``: what ``fleet limits`` shows.

:func:`admit` and :func:`learn` below are the policy's two calls.
"""

from __future__ import annotations

import logging
from typing import Any

import redis

from worker.errors import ToolError, Unavailable
from worker.rate_limits import Limit, parse_limit
from worker.runtime.catalog import ToolSpec
from worker.runtime.governor.governor import Governor, Grant, get_governor
from worker.runtime.governor.limits import Budget, budgets
from worker.settings import get_settings

__all__ = [
    "Budget",
    "Governor",
    "Grant",
    "Limit",
    "admit",
    "get_governor",
    "learn",
    "parse_limit",
    "scopes_of",
]

logger = logging.getLogger(__name__)


def scopes_of(spec: ToolSpec, params: Any, *, reconciling: bool = False) -> list[str]:
    """The call's rate scopes: the tool's templates filled with its params, credential and
    what the tool's ``scope_values`` add (plus what a reconcile lookup spends, when one
    will run)."""
    values = {"credential": "default", **params.model_dump()}
    if spec.scope_values is not None:  # e.g. the ID of a channel given by name
        values.update(spec.scope_values(params, str(values["credential"])))
    templates = spec.scopes + (spec.reconcile_scopes if reconciling else ())
    return [template.format(**values) for template in templates]


def admit(
    spec: ToolSpec, params: Any, run_id: str, *, reconciling: bool, reserved: bool
) -> Grant | None:
    """Ask the governor for this call; ``None`` for a tool that takes no scope.

    If Redis cannot be asked, the call goes ahead (logged): the broker is the
    same Redis, so the fleet is stalled anyway, and a lost budget check is
    better than a lost call.
    """
    scopes = scopes_of(spec, params, reconciling=reconciling)
    if not scopes:
        return None
    call_budgets = budgets(scopes, spec.provider.limits, get_settings().rate_limits)
    try:
        return get_governor().acquire(
            call_budgets, spec.provider.name, run_id=run_id, reserved=reserved
        )
    except redis.RedisError as exc:
        logger.warning("%s[%s]: governor unreachable, not limited: %s", spec.name, run_id, exc)
        return None


def learn(grant: Grant | None, error: ToolError | None, headers: dict[str, str]) -> None:
    """Tell the governor how an admitted call went (never fails the call)."""
    if grant is None:
        return
    try:
        get_governor().learn(
            grant,
            outcome="unavailable" if isinstance(error, Unavailable) else "ok",
            headers=headers,
            retry_after=error.retry_after if error is not None else None,
        )
    except redis.RedisError as exc:
        logger.warning("governor could not learn from a %s call: %s", grant.provider, exc)

"""The fleet-wide rate governor: budgets, learned limits and circuits shared in Redis.

Celery's ``rate_limit`` is per worker process; this one holds across the
fleet. :meth:`Governor.acquire` admits a call against every budget it needs
and its provider's circuit in one Lua script (one round trip), or says how
long to park. :meth:`Governor.learn` feeds the outcome back in one more
script — Retry-After closes the call's scopes for every worker, rate-limit
headers tighten the first scope, unavailable outcomes count towards opening
the circuit — and is skipped when there is nothing to learn. So an admitted
call costs at most two round trips, usually one.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import redis

from worker.runtime.governor.limits import SCHEDULE_MARGIN, Budget
from worker.settings import Settings, get_settings

PREFIX = "fleet:gov:"
# Every scope in use, scored by when its state is gone (acquire.lua): idle ones leave.
SCOPES_KEY = PREFIX + "scope-index"
LEGACY_SCOPES_KEY = PREFIX + "scopes"  # the set it replaces, which only ever grew
SCOPE_IDLE_SECONDS = 60  # a scope stays listed (fleet limits) this long after its last use
Outcome = Literal["ok", "unavailable"]


def closed_key(scope: str) -> str:
    return f"{PREFIX}closed:{scope}"


def learned_key(scope: str) -> str:
    return f"{PREFIX}learned:{scope}"


def parked_key(scope: str) -> str:
    return f"{PREFIX}parked:{scope}"


def tat_key(scope: str, index: int) -> str:
    return f"{PREFIX}tat:{scope}#{index}"


def meter_key(scope: str, index: int) -> str:
    return f"{PREFIX}meter:{scope}#{index}"


def circuit_key(provider: str) -> str:
    return f"{PREFIX}circuit:{provider}"


@dataclass(frozen=True)
class Grant:
    """The governor's answer to one call."""

    budgets: tuple[Budget, ...]
    provider: str
    wait: float  # 0: go now; else seconds to park
    reason: str = ""
    reserved: bool = False  # the call's tokens are taken for when its wait ends
    probe: bool = False  # the one call let through a half-open circuit
    failures: int = 0  # the circuit's consecutive failures when admitted

    @property
    def admitted(self) -> bool:
        return self.wait <= 0


class Governor:
    """Admits calls against rate scopes and learns from provider responses."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.redis = client
        self.settings = settings
        self._acquire = client.register_script(_script("acquire.lua"))
        self._learn = client.register_script(_script("learn.lua"))
        self._legacy_gone = False

    def acquire(
        self, budgets: list[Budget], provider: str, *, run_id: str, reserved: bool = False
    ) -> Grant:
        """Take the budgets now, or reserve them for later and say how long to park.

        ``reserved``: the call parked with a reservation and is back: its tokens
        were taken then, only closed scopes and the circuit are checked now.
        """
        if not self._legacy_gone:  # once per process, on first use (never at import)
            self.redis.delete(LEGACY_SCOPES_KEY)
            self._legacy_gone = True
        keys = [circuit_key(provider), SCOPES_KEY]
        args: list[Any] = [
            "1" if reserved else "0",
            run_id,
            self._probe_lease(),
            len(budgets),
            SCHEDULE_MARGIN,
            SCOPE_IDLE_SECONDS,
        ]
        for budget in budgets:
            scope = budget.scope
            keys += [closed_key(scope), learned_key(scope), parked_key(scope)]
            for index in range(len(budget.limits)):
                keys += [tat_key(scope, index), meter_key(scope, index)]
            args += [scope, len(budget.limits)]
            for limit in budget.limits:
                args += [repr(limit.interval), limit.burst]
        wait, reason, was_reserved, probe, failures = self._acquire(keys=keys, args=args)
        return Grant(
            budgets=tuple(budgets),
            provider=provider,
            wait=max(0.0, float(wait)),
            reason=_text(reason),
            reserved=bool(was_reserved),
            probe=bool(probe),
            failures=int(failures),
        )

    def learn(
        self,
        grant: Grant,
        *,
        outcome: Outcome,
        headers: dict[str, str] | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Feed an admitted call's outcome back (nothing to learn: no round trip)."""
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        remaining = _count(headers.get("x-ratelimit-remaining"))
        # A provider's wait is taken at most FLEET_MAX_WAIT_SECONDS long: a reset or a
        # Retry-After of "inf" or centuries must not close a scope for ever.
        cap = self.settings.max_wait_seconds
        reset = _count(headers.get("x-ratelimit-reset"))
        if reset:
            reset = repr(min(float(reset), time.time() + cap))
        if retry_after is not None:
            retry_after = min(retry_after, cap)
        quiet = outcome == "ok" and not grant.failures and not grant.probe
        if (quiet and retry_after is None and not (remaining and reset)) or not grant.budgets:
            return
        first = grant.budgets[0]
        keys = [circuit_key(grant.provider)]
        keys += [closed_key(b.scope) for b in grant.budgets]
        keys += [learned_key(first.scope)]
        for index in range(len(first.limits)):
            keys += [tat_key(first.scope, index), meter_key(first.scope, index)]
        keys.append(SCOPES_KEY)
        args: list[Any] = [
            outcome,
            self.settings.circuit_failures,
            self.settings.circuit_cooldown_seconds,
            "1" if grant.probe else "0",
            "" if retry_after is None else repr(float(retry_after)),
            remaining,
            _count(headers.get("x-ratelimit-limit")),
            reset,
            len(grant.budgets),
        ]
        for limit in first.limits:
            args += [repr(limit.interval), limit.burst]
        self._learn(keys=keys, args=args)

    def _probe_lease(self) -> float:
        # Long enough for the probe's own call to time out; then another may probe.
        return self.settings.provider_timeout_seconds * 2 + 5


def _script(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text()


def _count(value: Any) -> str:
    """A rate-limit header's value as the script takes it: a finite number, or ""."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    return str(value).strip() if math.isfinite(number) else ""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


_lock = threading.Lock()
_governor: tuple[int, Governor] | None = None


def get_governor() -> Governor:
    """This process's governor (re-made in a forked child: sockets are not shared)."""
    global _governor
    with _lock:
        if _governor is None or _governor[0] != os.getpid():
            settings = get_settings()
            client = redis.Redis.from_url(settings.broker_url)
            _governor = (os.getpid(), Governor(client, settings))
        return _governor[1]

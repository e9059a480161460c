"""What the governor knows right now, for ``fleet limits`` (read-only).

For every scope a call has taken and whose state is not gone yet (acquire.lua's
index forgets idle scopes): its limits, the tokens left in each of
our buckets, when they are full again, what the provider last said
(remaining, limit, reset: the learned-from-headers flag), whether it is
closed and until when, and how many runs are parked waiting for it; for
every provider seen, its circuit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import redis

from worker.runtime.governor.governor import (
    PREFIX,
    SCOPES_KEY,
    circuit_key,
    closed_key,
    learned_key,
    parked_key,
    tat_key,
)
from worker.runtime.governor.limits import budgets, kind_of


def fleet_snapshot(client: redis.Redis) -> dict[str, Any]:
    """:func:`snapshot` with every catalog provider's declared limits and the settings'."""
    from worker.runtime.catalog import catalog  # late: the governor itself needs no catalog
    from worker.settings import get_settings

    declared: dict[str, list[str]] = {}
    providers: dict[str, str] = {}
    for spec in catalog().values():
        for kind, texts in spec.provider.limits.items():
            declared[kind] = list(texts)
            providers[kind] = spec.provider.name
        for scope in spec.scopes + spec.reconcile_scopes:
            providers.setdefault(scope.split(":", 1)[0], spec.provider.name)
    return snapshot(client, declared, get_settings().rate_limits, providers)


def snapshot(
    client: redis.Redis,
    declared: Mapping[str, Sequence[str]],
    overrides: Mapping[str, Sequence[str]],
    providers: Mapping[str, str],
) -> dict[str, Any]:
    """``declared``: every provider's limits by kind; ``providers``: kind → provider."""
    seconds, micros = client.time()
    now = seconds + micros / 1e6
    scopes = sorted(_text(s) for s in client.zrangebyscore(SCOPES_KEY, now, "+inf"))
    circuits = {
        name: _circuit(client.hgetall(circuit_key(name)), now)
        for name in sorted(set(providers.values()))
    }
    rows = []
    for budget in budgets(scopes, declared, overrides):
        scope = budget.scope
        closed = float(client.get(closed_key(scope)) or 0)
        learned = {_text(k): _text(v) for k, v in client.hgetall(learned_key(scope)).items()}
        buckets = []
        for index, limit in enumerate(budget.limits):
            tat = max(float(client.get(tat_key(scope, index)) or 0), now)
            available = (now + limit.burst * limit.interval - tat) / limit.interval
            buckets.append(
                {
                    "limit": str(limit),
                    "available": max(0, min(limit.burst, int(available + 1e-9))),
                    "full_at": tat - now if tat > now else 0.0,
                }
            )
        provider = providers.get(kind_of(scope), kind_of(scope).split("-")[0])
        rows.append(
            {
                "scope": scope,
                "provider": provider,
                "limits": buckets,
                "closed_for": round(closed - now, 3) if closed > now else 0.0,
                "learned": bool(learned),
                "provider_remaining": _number(learned.get("remaining")),
                "provider_limit": _number(learned.get("limit")),
                "reset_in": round(float(learned["reset"]) - now, 1) if "reset" in learned else None,
                "parked": client.zcount(parked_key(scope), now, "+inf"),
                "circuit": circuits.get(provider, {"state": "closed"})["state"],
            }
        )
    return {"scopes": rows, "circuits": circuits, "prefix": PREFIX}


def _circuit(raw: Mapping[bytes, bytes], now: float) -> dict[str, Any]:
    fields = {_text(k): _text(v) for k, v in raw.items()}
    if fields.get("state") != "open":
        return {"state": "closed", "failures": int(fields.get("failures", 0))}
    open_until = float(fields.get("open_until", 0))
    probing = float(fields.get("probe_until", 0)) > now
    state = "open" if now < open_until else ("probing" if probing else "half-open")
    return {"state": state, "reopens_in": round(max(0.0, open_until - now), 1)}


def _number(value: str | None) -> float | None:
    return float(value) if value not in (None, "") else None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

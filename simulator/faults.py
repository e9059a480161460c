"""Fault injection rules: what to break, for which requests, and how many times.

A :class:`Fault` is scoped to a provider, an HTTP method (or ``"*"``) and a path regex that is
*searched* in the provider-relative path (for an RPC-style fake that path is the method name).
The first matching rule is consumed per request, so ``times=2`` with a 503 gives "two
failures, then success" - the shape retry logic must survive.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import asdict, dataclass, field
from typing import Any

RATE_LIMIT_KINDS = ("primary", "secondary")


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` value: integral seconds without a trailing ``.0``."""
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


class FaultError(ValueError):
    """Raised for a malformed fault specification."""


@dataclass
class Fault:
    """One injected failure rule. ``times=None`` means it never runs out."""

    provider: str
    method: str = "*"
    path: str | None = None
    status: int | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: float | None = None
    rate_limit: str | None = None  # "primary" | "secondary"
    latency: float | None = None  # before the request is handled
    slow_response: float | None = None  # after it is handled (a write made, its answer late)
    drop_response: bool = False
    unauthorized: bool = False
    times: int | None = 1
    id: int = 0
    hits: int = 0

    def __post_init__(self) -> None:
        from simulator.fakes import FAKES  # the fakes import this module

        if self.provider not in (*FAKES, "*"):
            raise FaultError(f"unknown provider {self.provider!r}")
        if self.rate_limit is not None and self.rate_limit not in RATE_LIMIT_KINDS:
            raise FaultError(f"rate_limit must be one of {RATE_LIMIT_KINDS}")
        if self.status is not None and not 100 <= int(self.status) <= 599:
            raise FaultError("status must be an HTTP status code")
        if self.times is not None and self.times < 1:
            raise FaultError("times must be >= 1 or None")
        if self.path is not None:
            try:
                re.compile(self.path)
            except re.error as exc:
                raise FaultError(f"bad path regex: {exc}") from exc
        if not (self.responds or self.latency or self.slow_response or self.drop_response):
            raise FaultError(
                "a fault needs status, rate_limit, unauthorized, latency, slow_response or drop"
            )
        self.method = self.method.upper()

    @property
    def responds(self) -> bool:
        """True when the fault replaces the real answer with an error response."""
        return self.status is not None or self.rate_limit is not None or self.unauthorized

    def matches(self, provider: str, method: str, path: str) -> bool:
        """Whether this rule applies to a request."""
        if self.provider not in ("*", provider):
            return False
        if self.method not in ("*", method.upper()):
            return False
        return self.path is None or re.search(self.path, path) is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly view (for the control API)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        """Build from control-API JSON, ignoring bookkeeping keys."""
        allowed = set(cls.__dataclass_fields__) - {"id", "hits"}
        unknown = set(data) - allowed
        if unknown:
            raise FaultError(f"unknown fault fields: {sorted(unknown)}")
        if "provider" not in data:
            raise FaultError("provider is required")
        kwargs = dict(data)
        kwargs["headers"] = dict(kwargs.get("headers") or {})
        return cls(**kwargs)


class FaultSet:
    """Ordered fault rules. Not locked itself: the simulator's single lock guards it."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, fault: Fault) -> Fault:
        """Register a rule and give it an id."""
        fault.id = next(self._ids)
        self._faults.append(fault)
        return fault

    def clear(self) -> int:
        """Drop every rule; returns how many were active."""
        count = len(self._faults)
        self._faults.clear()
        return count

    def take(self, provider: str, method: str, path: str) -> Fault | None:
        """Consume one use of the first matching rule, removing it once exhausted."""
        for fault in self._faults:
            if fault.matches(provider, method, path):
                fault.hits += 1
                if fault.times is not None and fault.hits >= fault.times:
                    self._faults.remove(fault)
                return fault
        return None

    def active(self) -> list[Fault]:
        """Rules still armed."""
        return list(self._faults)

"""A real worker process in which one step of the tool policy fails on demand.

Run as ``python -m tests.faults worker -Q ...`` (``fleet``'s own arguments). Before
the worker starts, each step of the policy is wrapped: while the Redis key
:data:`FAULT_KEY` (on the worker's broker) names the step, it raises
:class:`InjectedFault`, an exception nothing in the fleet foresees. A test sets the
key, makes a call and watches how the run ends.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

FAULT_KEY = "fleet-test:fault"
STEPS = (
    "begin", "validate", "idempotency", "admit", "the call", "classify", "learn",
    "reconcile", "record",
)  # fmt: skip


class InjectedFault(RuntimeError):
    """What no step of the policy expects."""


def _armed(step: str) -> bool:
    from worker.fleet_redis import fleet_redis

    return fleet_redis().get(FAULT_KEY) == step.encode()


def _faulty(step: str, original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def faulty(*args: Any, **kwargs: Any) -> Any:
        if _armed(step):
            raise InjectedFault(f"injected at {step}")
        return original(*args, **kwargs)

    return faulty


def install() -> None:
    """Wrap every step named in STEPS."""
    import worker.ledger
    from worker.ledger import outbox
    from worker.runtime import calling, governor
    from worker.runtime.catalog import ToolSpec, catalog

    worker.ledger.begin = _faulty("begin", worker.ledger.begin)
    ToolSpec.parse = _faulty("validate", ToolSpec.parse)  # type: ignore[method-assign]
    ops = outbox.OPERATIONS
    ops["copy_outcome"] = _faulty("idempotency", ops["copy_outcome"])
    ops["succeed"] = _faulty("record", ops["succeed"])
    governor.admit = _faulty("admit", governor.admit)
    governor.learn = _faulty("learn", governor.learn)
    calling.earlier_write = _faulty("reconcile", calling.earlier_write)
    spec = catalog()["github.get_repository"]
    object.__setattr__(spec, "func", _faulty("the call", spec.func))
    provider = spec.provider
    object.__setattr__(provider, "map_error", _faulty("classify", provider.map_error))


if __name__ == "__main__":
    install()
    from worker.cli import run

    sys.argv[0] = "fleet"
    run()

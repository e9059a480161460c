"""The fleet's own tools, with no provider: ``fleet.echo`` and ``fleet.doctor``.

``fleet.echo`` checks the whole pipeline end to end (publishing, a worker,
the policy, the ledger); the benchmarks use it as the no-op tool.
``fleet.doctor`` runs `fleet doctor`'s checks from a worker, so an agent can
ask whether the fleet can work and as whom (worker.ops.doctor).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from tasks.fleet import DECLARATION
from worker.errors import ToolError
from worker.runtime.catalog import Provider
from worker.runtime.params import params_config
from worker.settings import Settings


def _no_client(settings: Settings, credential: str) -> None:
    return None


def _map_error(exc: Exception) -> ToolError:
    return ToolError(f"unexpected {type(exc).__name__}: {exc}")


provider = Provider(DECLARATION, client=_no_client, map_error=_map_error)


class Echo(BaseModel):
    """Params of ``fleet.echo``."""

    message: str = Field(default="ping", max_length=10_000, description="Returned as is.")
    data: dict[str, Any] = Field(default_factory=dict, description="Returned as is.")

    model_config = params_config({"message": "ping"})


@provider.tool("fleet.echo", writes=False)
def echo(_: None, p: Echo) -> dict[str, Any]:
    """Return the params unchanged: a health check of the whole pipeline."""
    return {"message": p.message, "data": p.data}


class Doctor(BaseModel):
    """Params of ``fleet.doctor`` (none)."""

    model_config = params_config({})


@provider.tool("fleet.doctor", writes=False)
def doctor(_: None, p: Doctor) -> dict[str, Any]:
    """Check Redis, the ledger, the workers and each provider's credentials: who the
    fleet acts as, the limits in force, and whether anything is wrong (``ok`` false)."""
    from worker.app import app
    from worker.ops.doctor import report, run_checks

    return report(run_checks(app))

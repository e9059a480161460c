"""``fleet.echo``: a tool with no provider, to check the whole pipeline end to end.

An agent or operator can call it to see that publishing, a worker, the
policy and the ledger all work; the benchmarks use it as the no-op tool.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from worker.errors import ToolError
from worker.settings import Settings
from worker.tools.catalog import Provider, params_config


def _no_client(settings: Settings, credential: str) -> None:
    return None


def _map_error(exc: Exception) -> ToolError:
    return ToolError(f"unexpected {type(exc).__name__}: {exc}")


provider = Provider("fleet", client=_no_client, map_error=_map_error)


class Echo(BaseModel):
    """Params of ``fleet.echo``."""

    message: str = Field(default="ping", max_length=10_000, description="Returned as is.")
    data: dict[str, Any] = Field(default_factory=dict, description="Returned as is.")

    model_config = params_config({"message": "ping"})


@provider.tool("fleet.echo", writes=False)
def echo(_: None, p: Echo) -> dict[str, Any]:
    """Return the params unchanged: a health check of the whole pipeline."""
    return {"message": p.message, "data": p.data}

"""The fleet's own tools, with no provider behind them (``fleet.echo``,
``fleet.doctor``): the declaration; the tools are in ``tools``. They run on the
fleet's own queue."""

from __future__ import annotations

from worker.providers import FLEET_QUEUE, Declaration

DECLARATION = Declaration("fleet", title="the fleet", queue=FLEET_QUEUE)

"""`fleet`: run the fleet's processes, call tools, inspect runs and dead letters.

Tables for people, ``--json`` for programs. Every command reads the same
settings (environment variables, see the README). One module per command
group; each imports what it needs when it runs, so ``fleet --help`` is quick:

- ``processes``: ``worker``, ``beat``, ``flower``, ``metrics``, ``migrate``, ``sim``;
- ``up`` (with ``supervisor``): the whole fleet in the foreground;
- ``tools``: ``tools``, ``call``;
- ``runs``: ``runs``, ``dlq``;
- ``status``: ``status`` (the fleet on one screen), ``run`` (one run);
- ``doctor``: can the fleet work, and as whom;
- ``events``: the completion events;
- ``limits``: the rate governor's state;
- ``syncs``: the configured syncs, running one, their items;
- ``mcp``: the fleet as an MCP server (stdio or Streamable HTTP).
"""

from __future__ import annotations

import click

from worker.cli import doctor, events, limits, mcp, processes, runs, status, syncs, tools, up


class FleetGroup(click.Group):
    """Reports an unreachable ledger as one clear line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            from worker.ledger.db import LedgerUnavailable  # only now: keeps start-up light

            if isinstance(exc, LedgerUnavailable):
                hint = "(is PostgreSQL up? then `fleet migrate`)"
                raise click.ClickException(f"{exc} {hint}") from None
            raise


@click.group(cls=FleetGroup)
def main() -> None:
    """toolfleet: a Celery fleet running integration tools for AI agents."""


for command in (
    processes.worker,
    processes.beat,
    processes.flower,
    processes.metrics,
    processes.migrate,
    up.up,
    processes.sim,
    tools.tools,
    tools.call,
    runs.runs,
    status.run,
    status.status,
    doctor.doctor,
    runs.dlq,
    events.events,
    limits.limits,
    syncs.syncs,
    mcp.mcp,
):
    main.add_command(command)

"""`fleet`: run the fleet's processes, call tools, inspect runs and dead letters.

Tables for people, ``--json`` for programs. Every command reads the same
settings (environment variables, see the README). One module per command
group; each imports what it needs when it runs, so ``fleet --help`` is quick:

- ``processes``: ``worker``, ``beat``, ``flower``, ``migrate``, ``sim``;
- ``up`` (with ``supervisor``): the whole fleet in the foreground;
- ``tools``: ``tools``, ``call``;
- ``runs``: ``runs``, ``dlq``;
- ``limits``: the rate governor's state;
- ``syncs``: the configured syncs, running one, their items.
"""

from __future__ import annotations

import click

from worker.cli import limits, processes, runs, syncs, tools, up


class FleetGroup(click.Group):
    """Reports an unreachable ledger as one clear line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        from worker.ledger import LedgerUnavailable

        try:
            return super().invoke(ctx)
        except LedgerUnavailable as exc:
            raise click.ClickException(f"{exc} (is PostgreSQL up? then `fleet migrate`)") from None


@click.group(cls=FleetGroup)
def main() -> None:
    """toolfleet: a Celery fleet running integration tools for AI agents."""


for command in (
    processes.worker,
    processes.beat,
    processes.flower,
    processes.migrate,
    up.up,
    processes.sim,
    tools.tools,
    tools.call,
    runs.runs,
    runs.dlq,
    limits.limits,
    syncs.syncs,
):
    main.add_command(command)

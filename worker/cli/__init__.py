"""`fleet`: run the fleet's processes, call tools, inspect runs and dead letters.

Tables for people, ``--json`` for programs. Every command reads the same
settings (environment variables, see the README). One module per command
group, imported only when one of its commands runs (:data:`COMMANDS`):

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

import importlib

import click

# Each command and the module that defines it, in the order `fleet --help` lists
# them: a command's module is imported only when that command runs.
COMMANDS = {
    "worker": "processes",
    "beat": "processes",
    "flower": "processes",
    "metrics": "processes",
    "migrate": "processes",
    "up": "up",
    "sim": "processes",
    "tools": "tools",
    "call": "tools",
    "runs": "runs",
    "run": "status",
    "status": "status",
    "doctor": "doctor",
    "dlq": "runs",
    "events": "events",
    "limits": "limits",
    "syncs": "syncs",
    "mcp": "mcp",
}


class FleetGroup(click.Group):
    """Loads each command's module on demand, and reports an unreachable ledger as
    one clear line instead of a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        command = getattr(importlib.import_module(f"worker.cli.{module}"), cmd_name)
        assert isinstance(command, click.Command)
        return command

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

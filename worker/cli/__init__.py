"""`fleet`: run the fleet's processes, call tools, inspect runs and dead letters.

Tables for people, ``--json`` for programs. Every command reads the same
settings (environment variables, see the README). One module per command
group, imported only when one of its commands runs (:data:`COMMANDS`):

- ``processes``: ``worker``, ``beat``, ``flower``, ``metrics``, ``migrate``, ``sim``;
- ``up`` (with ``supervisor``): the whole fleet in the foreground;
- ``tools`` (with ``watch``: following one run): ``tools``, ``call``;
- ``runs``: ``runs``, ``dlq``;
- ``status``: ``status`` (the fleet on one screen), ``run`` (one run);
- ``doctor``: can the fleet work, and as whom;
- ``events``: the completion events;
- ``limits``: the rate governor's state;
- ``syncs``: the configured syncs, running one, their items;
- ``mcp``: the fleet as an MCP server (stdio or Streamable HTTP);
- ``output``: tables for people, JSON for programs, shared by them all.

The executable is :func:`run`: the group, then an exit without the
interpreter's teardown. A one-shot command loads what it needs inside
:func:`loading`.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import os
import sys
from collections.abc import Iterator

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


# The status the process leaves with: 1 until main() has ended, as the interpreter
# reports an exception nobody caught; then whatever main() exited with.
_exit_status = 1
# Whether this process is the `fleet` executable, not one calling main() (tests).
_executable = False


def run() -> None:
    """The ``fleet`` executable (and ``python -m worker.cli``): :func:`main`, and an
    exit without the interpreter's teardown.

    The interpreter's exit still runs as usual (non-daemon threads and thread pools
    joined, ``atexit`` handlers run: task-sent events flushed, logs shut down), but
    the last handler, registered first, flushes output and ends the process there:
    for a one-shot command like ``fleet call`` the module and object teardown it
    skips took a fifth of its wall time, to free memory about to be given back.
    """
    global _exit_status, _executable
    _executable = True
    atexit.register(_leave_without_teardown)
    from worker.cli.supervisor import orphan_watch

    orphan_watch()
    try:
        main()
    except SystemExit as exc:
        _exit_status = _status_of(exc.code)
        raise
    _exit_status = 0


def _status_of(code: object) -> int:
    """The status ``sys.exit(code)`` gives: 0 for None, the int, else 1 (a message)."""
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def _leave_without_teardown() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a reader gone, a closed stream
            stream.flush()
    os._exit(_exit_status)


@contextlib.contextmanager
def loading() -> Iterator[None]:
    """A command's imports and set-up, with the garbage collector off.

    What a command loads (modules, classes, params models, the Celery app) lives as
    long as the process, and the collector would walk those tens of thousands of
    objects again and again for nothing: about a tenth of ``fleet call``'s wall time.
    Afterwards, in the ``fleet`` executable, they are frozen (no collection walks them
    again; a process embedding the CLI keeps its own garbage collectable) and the
    collector is back as it was.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if _executable:
            gc.freeze()
        if enabled:
            gc.enable()

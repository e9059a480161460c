"""`fleet runs | dlq ...`: the ledger's runs and dead letters, for operators."""

from __future__ import annotations

import click

from worker.cli.output import echo_json, fail, table


@click.command()
@click.option("--tool", default=None)
@click.option("--status", default=None)
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def runs(tool: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """The latest runs, newest first."""
    from worker import ledger

    rows = ledger.list_runs(tool=tool, status=status, limit=limit)
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        row["error"] = (row["error"] or {}).get("type")
    table(rows, ["id", "tool", "status", "attempts", "parks", "error", "created_at", "finished_at"])


@click.group()
def dlq() -> None:
    """Dead letters: list, show, replay, discard."""


@dlq.command("list")
@click.option(
    "--state",
    type=click.Choice(["dead", "replayed", "discarded"]),
    default="dead",
    show_default=True,
)
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def dlq_list(state: str, limit: int, as_json: bool) -> None:
    """Dead letters in STATE, newest first."""
    from worker import ledger

    rows = ledger.list_letters(state=state, limit=limit)
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        error = row["error"] or {}
        row["error"] = f"{error.get('type')}: {error.get('message')}"
    table(rows, ["id", "tool", "run_id", "error", "dead_at", "state", "replayed_as"])


@dlq.command("show")
@click.argument("letter_id", type=int)
def dlq_show(letter_id: int) -> None:
    """Everything kept about one dead letter (JSON)."""
    from worker import ledger

    letter = ledger.get_letter(letter_id)
    if letter is None:
        fail(f"no dead letter {letter_id}")
    echo_json(letter)


@dlq.command("replay")
@click.argument("letter_id", type=int)
def dlq_replay(letter_id: int) -> None:
    """Re-run a dead letter as a new run (params re-validated first)."""
    from worker.errors import ToolError
    from worker.front.client import UnknownTool
    from worker.ops.deadletters import NotReplayable, replay

    try:
        new_id = replay(letter_id)
    except (LookupError, NotReplayable, ValueError, UnknownTool, ToolError) as exc:
        fail(str(exc))
    click.echo(f"dead letter {letter_id} replayed as run {new_id}")


@dlq.command("discard")
@click.argument("letter_id", type=int)
def dlq_discard(letter_id: int) -> None:
    """Mark a dead letter discarded (it is kept, not deleted)."""
    from worker.ops.deadletters import discard

    try:
        discard(letter_id)
    except (LookupError, ValueError) as exc:
        fail(str(exc))
    click.echo(f"dead letter {letter_id} discarded")

"""`fleet runs | dlq ...`: the ledger's runs and dead letters, for operators."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta

import click

from worker.cli.output import echo_json, fail, table


@click.command()
@click.option("--tool", default=None)
@click.option("--status", default=None, help="queued, running, retrying, parked, succeeded, dead")
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def runs(tool: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """The latest runs, newest first (`fleet run ID` shows one in full)."""
    from worker import ledger

    known = [s.value for s in ledger.RunStatus]
    if status is not None and status not in known:
        fail(f"--status {status!r} is not a run status: one of {', '.join(known)}")

    rows = ledger.list_runs(tool=tool, status=status, limit=limit)
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        row["error"] = (row["error"] or {}).get("type")
    columns = ["id", "tool", "status", "attempts", "parks", "error", "dead_letter_id"]
    table(rows, [*columns, "created_at", "finished_at"])


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
@click.argument("letter_id", type=int, required=False)
@click.option("--params", "params_json", default=None, help="Corrected params (JSON object).")
@click.option("--wait", is_flag=True, help="Wait for the new run's outcome and print it.")
@click.option("--timeout", type=float, default=60.0, show_default=True)
@click.option("--tool", default=None, help="Bulk: every dead letter of this tool...")
@click.option("--since", default=None, help="...buried since: 2h, 30m, 1d or an ISO time.")
@click.option("--limit", type=int, default=1000, show_default=True, help="Bulk: at most.")
def dlq_replay(
    letter_id: int | None,
    params_json: str | None,
    wait: bool,
    timeout: float,
    tool: str | None,
    since: str | None,
    limit: int,
) -> None:
    """Re-run a dead letter as a new run (params re-validated first), or with --tool
    (and --since) every dead letter of a tool, oldest first."""
    from worker.errors import ToolError
    from worker.front.client import FleetClient, UnknownTool
    from worker.ops.deadletters import NotReplayable, replay, replay_matching

    if (letter_id is None) == (tool is None):
        fail("give a dead letter ID, or --tool (with --since) to replay in bulk")
    if letter_id is None:
        if params_json is not None or wait:
            fail("--params and --wait apply to one dead letter, not to a bulk replay")
        try:
            outcomes = replay_matching(tool, _parse_since(since), limit=limit)
        except UnknownTool as exc:
            fail(str(exc))
        for outcome in outcomes:
            what = f"replayed as run {outcome['run']}" if "run" in outcome else outcome["error"]
            click.echo(f"dead letter {outcome['letter']}: {what}")
        replayed = sum("run" in o for o in outcomes)
        click.echo(f"{replayed} of {len(outcomes)} dead letters of {tool} replayed")
        if replayed < len(outcomes):
            sys.exit(1)
        return
    params = None
    if params_json is not None:
        try:
            params = json.loads(params_json)
        except json.JSONDecodeError as exc:
            fail(f"--params is not valid JSON: {exc}")
    try:
        new_id = replay(letter_id, params=params)
    except (LookupError, NotReplayable, ValueError, UnknownTool, ToolError) as exc:
        fail(str(exc))
    click.echo(f"dead letter {letter_id} replayed as run {new_id}", err=wait)
    if wait:
        from worker import ledger
        from worker.cli.watch import follow

        client = FleetClient()
        letter = ledger.get_letter(letter_id) or {}
        follow(client.result(new_id), client.spec(letter["tool"]).queue, timeout)


def _parse_since(since: str | None) -> datetime | None:
    """``2h``, ``30m``, ``45s``, ``1d`` ago, or an ISO 8601 time (UTC if no zone)."""
    if since is None:
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if since[:-1].isdigit() and since[-1:] in units:
        return datetime.now(UTC) - timedelta(seconds=int(since[:-1]) * units[since[-1]])
    try:
        when = datetime.fromisoformat(since)
    except ValueError:
        fail(f"--since {since!r}: give 2h, 30m, 1d or an ISO time like 2026-11-22T10:00")
    return when if when.tzinfo else when.replace(tzinfo=UTC)


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

"""`fleet status` (the fleet on one screen) and `fleet run ID` (everything about one run)."""

from __future__ import annotations

from typing import Any

import click

from worker.cli.output import echo_json, fail, table


@click.command()
@click.option("--minutes", type=float, default=15.0, show_default=True, help="Window for runs.")
@click.option("--json", "as_json", is_flag=True)
def status(minutes: float, as_json: bool) -> None:
    """Workers and their queues, queue depths, recent runs, parked and retrying runs,
    messages waiting for their time, dead letters waiting, the ledger outbox and open
    circuits."""
    from worker.app import app
    from worker.ops.status import fleet_status

    report = fleet_status(app, minutes=minutes)
    if as_json:
        echo_json(report)
        return
    workers = report["workers"]
    click.echo(f"Workers ({len(workers)})")
    for name, queues in workers.items():
        click.echo(f"  {name}  {', '.join(queues)}")
    if not workers and "workers" not in report["unreadable"]:
        click.echo("  none answered: start them with `fleet up` or `fleet worker -Q <queue>`")
    click.echo("")
    table(report["queues"], ["queue", "depth", "workers"])
    click.echo("")
    click.echo(f"Runs, last {minutes:g} min: {_counts(report['runs']['by_status'])}")
    click.echo(f"In flight: {_counts(report['in_flight'])}")
    waiting = report["dead_letters_waiting"]
    hint = " (fleet dlq list)" if waiting else ""
    click.echo(f"Dead letters waiting: {_shown(waiting)}{hint}")
    click.echo(f"Ledger writes in the outbox: {_shown(report['outbox'])}")
    if report.get("outbox_failed"):
        click.echo(
            f"Ledger writes set aside (could not be applied): {report['outbox_failed']}"
            " — in Redis at fleet:ledger:outbox:failed"
        )
    delayed = report["delayed"]
    if delayed is not None:
        due = ""
        if delayed["count"]:
            due = f" (next in {delayed['next_in']:g}s, last in {delayed['last_in']:g}s)"
        click.echo(f"Waiting for their time (retries, parks): {delayed['count']}{due}")
    lost = report["broker_lost"]
    if lost and any(lost.values()):
        click.echo(f"Runs the broker lost: published again {lost['republished']}, "
                   f"lost {lost['lost']} (see `fleet runs --status lost`)")  # fmt: skip
    circuits = report["circuits_open"]
    click.echo(f"Circuits open: {', '.join(f'{p} ({s})' for p, s in circuits.items()) or 'none'}")
    for source, error in report["unreadable"].items():
        click.echo(f"UNREADABLE {source}: {error}")


def _counts(by_status: dict[str, int]) -> str:
    return " · ".join(f"{name} {count}" for name, count in by_status.items()) or "?"


def _shown(value: int | None) -> str:
    return "?" if value is None else str(value)


@click.command()
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True)
def run(run_id: str, as_json: bool) -> None:
    """Everything about one run: params, status, attempts and parks with their times and
    errors, the result or error, and its dead letter."""
    from worker import ledger

    row = ledger.get_run(run_id)
    if row is None:
        fail(f"no run {run_id} (runs are listed by `fleet runs`)")
    if as_json:
        echo_json(row)
        return
    for field in ("id", "tool", "queue", "status", "worker", "attempts", "parks"):
        click.echo(f"{field + ':':<16}{row[field]}")
    if row["redeliveries"]:
        click.echo(f"{'lost:':<16}{row['redeliveries']} (with dying workers)")
    for field in ("agent_task_id", "step_id", "idempotency_key", "duplicate_of"):
        if row[field]:
            click.echo(f"{field + ':':<16}{row[field]}")
    for field in ("created_at", "started_at", "finished_at", "next_attempt_at"):
        if row[field]:
            click.echo(f"{field + ':':<16}{row[field]:%Y-%m-%d %H:%M:%S.%f}"[:-3])
    if row["dead_letter_id"]:
        click.echo(f"{'dead letter:':<16}{row['dead_letter_id']} (fleet dlq show)")
    click.echo("params:")
    echo_json(row["params"])
    click.echo("")
    table([_step(entry) for entry in row["history"] or []], ["at", "event", "what"])
    if row["result"] is not None:
        click.echo("result:")
        echo_json(row["result"])
    if row["error"] is not None:
        click.echo("error:")
        echo_json(row["error"])


def _step(entry: dict[str, Any]) -> dict[str, str]:
    """One history entry as a table row: when, what happened, and the detail."""
    event = entry["event"]
    if entry.get("attempt"):
        event = f"attempt {entry['attempt']} {event}"
    detail: list[str] = []
    if entry.get("started_at"):
        detail.append(f"started {entry['started_at'][11:23]}")
    if entry.get("error"):
        error = entry["error"]
        detail.append(f"{error.get('type')}: {error.get('message')}")
    if "retry_in" in entry:
        detail.append(f"retry in {entry['retry_in']:g}s")
    if event == "parked":
        detail.append(f"wait {entry['wait']:g}s: {entry.get('reason') or '?'}")
    if event == "duplicate":
        detail.append(f"as run {entry['of']} ({entry['status']})")
    return {"at": entry["at"][:23].replace("T", " "), "event": event, "what": "; ".join(detail)}

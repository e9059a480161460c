"""`fleet syncs`: the syncs this shell configures and those the ledger knows (the running
beat records its own), their cursors and last runs; run one now; its items."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import click

from worker.cli.output import echo_json, fail, table


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def syncs(ctx: click.Context, as_json: bool) -> None:
    """Each sync: kind, target, cursor, last run and its counts, failures, lag, and where
    its definition lives: this shell's configuration, or only the ledger (recorded by the
    running beat, or by runs of another environment)."""
    if ctx.invoked_subcommand is not None:
        return
    from worker.settings import get_settings
    from worker.syncs import store
    from worker.syncs.config import load_entries

    settings = get_settings()
    known = {row["name"]: row for row in store.states()}
    configured = load_entries(settings)
    rows = []
    for name in [*configured, *(name for name in known if name not in configured)]:
        entry, state = configured.get(name), known.get(name, {})
        recorded = state.get("definition") or {}
        if entry is not None:
            kind, target, every, cron = entry.kind.name, entry.target, entry.every, entry.cron
        else:
            kind, target = state["kind"], state.get("target")
            every, cron = recorded.get("every"), recorded.get("cron")
        counts = state.get("last_counts") or {}
        failures = state.get("consecutive_failures") or 0
        rows.append(
            {
                "name": name,
                "kind": kind,
                "target": target,
                "every": f"{every:g}s" if every else cron,
                "origin": "config" if entry is not None else "ledger",
                "defined_by": recorded.get("recorded_by"),
                "defined_at": recorded.get("recorded_at"),
                "cursor": state.get("cursor"),
                "running": state.get("run_id"),
                "last_outcome": state.get("last_outcome"),
                "last_started_at": state.get("last_started_at"),
                "last_finished_at": state.get("last_finished_at"),
                "counts": counts,
                "skipped_runs": state.get("skipped_runs") or 0,
                "consecutive_failures": failures,
                "failing": failures >= settings.sync_failures_alert,
                "last_error": state.get("last_error"),
                "lag_seconds": _lag(state.get("last_success_at")),
                "next_due": _next_due(every, cron, state.get("last_started_at")),
            }
        )
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        counts = row["counts"]
        row["last run"] = (
            f"{row['last_outcome'] or 'never'}"
            + (f" {counts.get('pages', 0)}p +{counts.get('inserted', 0)}"
               f" ~{counts.get('updated', 0)} ={counts.get('unchanged', 0)}" if counts else "")
        )  # fmt: skip
        row["lag"] = "" if row["lag_seconds"] is None else f"{row['lag_seconds']:.0f}s"
        row["failing"] = f"FAILING x{row['consecutive_failures']}" if row["failing"] else ""
        row["origin"] = _origin(row)
    columns = ["name", "kind", "target", "every", "cursor", "last run", "next_due", "lag"]
    table(rows, [*columns, "failing", "origin"])


@syncs.command("run")
@click.argument("name")
@click.option("--full", is_flag=True, help="Forget the cursor: read everything again.")
def syncs_run(name: str, full: bool) -> None:
    """Run sync NAME now (skipped if a run of it is already going)."""
    from worker.app import app
    from worker.settings import get_settings
    from worker.syncs.config import load_entries

    entry = load_entries(get_settings()).get(name)
    if entry is not None:
        task = entry.task
    else:  # defined elsewhere (the running beat's): the workers know it, the ledger its kind
        from worker.syncs import store

        state = next((row for row in store.states() if row["name"] == name), None)
        if state is None:
            fail(f"no sync named {name!r} is configured or known (`fleet syncs` lists them)")
        task = f"sync.{state['kind']}"
    result = app.send_task(task, kwargs={"sync": name, "full": full})
    click.echo(result.id)


@syncs.command("items")
@click.argument("name")
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def syncs_items(name: str, limit: int, as_json: bool) -> None:
    """What sync NAME brought in, most recently changed first."""
    from worker.syncs import store

    rows = store.items(name, limit)
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        row["summary"] = _summary(row["payload"])
    table(rows, ["external_id", "source_updated_at", "last_seen", "summary"])


def _summary(payload: dict[str, Any]) -> str:
    for key in ("title", "summary", "text", "message"):
        if payload.get(key):
            return str(payload[key])
    return ""


def _origin(row: dict[str, Any]) -> str:
    """Where the sync's definition lives, for the table."""
    if row["origin"] == "config":
        return "config"
    if row["defined_by"]:
        return f"ledger only: defined by {row['defined_by']}"
    return "ledger only: defined by another environment"


def _next_due(
    every: float | None, cron: str | None, last_started: datetime | None
) -> datetime | None:
    """When beat sends it next (from its last start; a sync never run is due now,
    one whose schedule is unknown here: None)."""
    from worker.syncs.config import schedule_of

    if every is None and cron is None:
        return None
    if last_started is None:
        return datetime.now(UTC)
    if every is not None:
        return last_started + timedelta(seconds=every)
    return datetime.now(UTC) + schedule_of(None, cron).remaining_estimate(last_started)


def _lag(last_success: datetime | None) -> float | None:
    return (datetime.now(UTC) - last_success).total_seconds() if last_success else None

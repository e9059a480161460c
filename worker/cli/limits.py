"""`fleet limits`: every rate scope's budget, what providers said, circuits, parked runs."""

from __future__ import annotations

import click

from worker.cli.output import echo_json, table


@click.command()
@click.option("--json", "as_json", is_flag=True)
def limits(as_json: bool) -> None:
    """Rate scopes the fleet has used: limit, tokens left, learned limits, closures,
    circuit and parked runs."""
    from worker.fleet_redis import fleet_redis
    from worker.runtime.governor.state import fleet_snapshot

    state = fleet_snapshot(fleet_redis())
    if as_json:
        echo_json(state)
        return
    rows = [
        {
            **row,
            "limit": ", ".join(b["limit"] for b in row["limits"]) or "—",
            "available": ", ".join(str(b["available"]) for b in row["limits"]) or "—",
            "provider says": _provider_says(row),
            "closed": f"{row['closed_for']:g}s" if row["closed_for"] else "",
        }
        for row in state["scopes"]
    ]
    columns = ["scope", "limit", "available", "provider says", "closed", "parked", "circuit"]
    table(rows, columns)
    click.echo("")
    table(
        [{"provider": name, **circuit} for name, circuit in state["circuits"].items()],
        ["provider", "state", "failures", "reopens_in"],
    )


def _provider_says(row: dict[str, object]) -> str:
    if not row["learned"]:
        return ""
    remaining, limit, reset = row["provider_remaining"], row["provider_limit"], row["reset_in"]
    of = f"/{limit:g}" if isinstance(limit, float) else ""
    return f"{remaining:g}{of} left, reset in {reset:g}s"

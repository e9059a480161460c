"""`fleet events`: the completion events agents follow (see worker.events)."""

from __future__ import annotations

import json

import click


@click.command()
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events.")
@click.option("--tool", default=None)
@click.option("--agent-task-id", default=None)
@click.option("--new", is_flag=True, help="Only events from now on (with --follow).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def events(
    follow: bool, tool: str | None, agent_task_id: str | None, new: bool, as_json: bool
) -> None:
    """Completion events, oldest kept first: run id, tool, status, duration, outcome."""
    from worker.cli.output import fail
    from worker.front.client import FleetClient, UnknownTool

    try:
        stream = FleetClient().events(
            agent_task_id=agent_task_id, tool=tool, after="$" if new else "0", follow=follow
        )
        for event in stream:
            click.echo(json.dumps(event) if as_json else _line(event))
    except UnknownTool as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        pass


def _line(event: dict[str, object]) -> str:
    outcome = event.get("error") or event.get("result") or event.get("result_preview") or ""
    text = outcome if isinstance(outcome, str) else json.dumps(outcome)
    duration = event.get("duration_seconds")
    took = f"{duration:.3f}s" if isinstance(duration, float | int) else "-"
    who = event.get("agent_task_id") or "-"
    return (
        f"{event['id']}  {event['name']}  run {event['run_id']}  {took}  agent {who}  {text[:80]}"
    )

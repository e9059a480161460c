"""`fleet tools | call`: the catalog, and calling a tool by name."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from worker.cli import loading
from worker.cli.output import echo_json, fail, table

if TYPE_CHECKING:
    from worker.runtime.catalog import ToolSpec


@click.command()
@click.option("--json", "as_json", is_flag=True, help="The full catalog with JSON schemas.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["catalog", "mcp", "openai"]),
    default="catalog",
    show_default=True,
    help="Shape of the JSON export (mcp and openai imply --json).",
)
@click.option("--markdown", is_flag=True, help="The README's tool table.")
def tools(as_json: bool, fmt: str, markdown: bool) -> None:
    """List the tools agents can call."""
    with loading():
        from worker.runtime.catalog import catalog

        specs = sorted(catalog().values(), key=lambda s: s.name)
    if markdown:
        click.echo(markdown_table(specs))
        return
    if as_json or fmt != "catalog":
        if fmt == "mcp":
            echo_json({"tools": [s.as_mcp() for s in specs]})
        elif fmt == "openai":
            echo_json([s.as_openai() for s in specs])
        else:
            echo_json([s.describe() for s in specs])
        return
    rows = [
        {
            "tool": s.name,
            "queue": s.queue,
            "access": "write" if s.writes else "read",
            "params": ", ".join(_param_names(s.params_schema())),
            "description": s.description,
        }
        for s in specs
    ]
    table(rows, ["tool", "queue", "access", "params", "description"])


def _param_names(schema: dict[str, Any]) -> list[str]:
    required = set(schema.get("required", []))
    return [f"{n}*" if n in required else n for n in schema.get("properties", {})]


@click.command()
@click.argument("tool")
@click.argument("params", default="{}")
@click.option("--wait", is_flag=True, help="Wait for the result and print it.")
@click.option("--timeout", type=float, default=60.0, show_default=True)
@click.option("--idempotency-key", default=None)
@click.option("--agent-task-id", default=None)
@click.option("--step-id", default=None)
def call(
    tool: str,
    params: str,
    wait: bool,
    timeout: float,
    idempotency_key: str | None,
    agent_task_id: str | None,
    step_id: str | None,
) -> None:
    """Call TOOL with PARAMS (a JSON object). Prints the run id, or the result with --wait."""
    try:
        parsed = json.loads(params)
    except json.JSONDecodeError as exc:
        fail(f"PARAMS is not valid JSON: {exc}")
    with loading():
        from worker.errors import ToolError
        from worker.front.client import BrokerUnavailable, FleetClient, UnknownTool

        try:
            handle = FleetClient().call(
                tool,
                parsed,
                idempotency_key=idempotency_key,
                agent_task_id=agent_task_id,
                step_id=step_id,
            )
        except (UnknownTool, ToolError, BrokerUnavailable) as exc:
            fail(str(exc))
    if not wait:
        click.echo(handle.id)
        return
    from worker.cli.watch import follow

    follow(handle, FleetClient().spec(tool).queue, timeout)


def markdown_table(specs: list[ToolSpec]) -> str:
    """The README's tool list, generated from the catalog: each description whole (one
    line already), its pipes escaped so a row keeps its columns."""
    lines = ["| tool | queue | access | what it does | example params |", "|---|---|---|---|---|"]
    for spec in specs:
        access = f"write ({spec.lost_response})" if spec.writes else "read"
        summary = spec.description.replace("|", "\\|")
        example = json.dumps(spec.example(), separators=(", ", ": "))
        lines.append(f"| `{spec.name}` | {spec.queue} | {access} | {summary} | `{example}` |")
    return "\n".join(lines)

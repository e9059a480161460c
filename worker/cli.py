"""`fleet`: run the fleet's processes, call tools, inspect runs and dead letters.

Tables for people, ``--json`` for programs. Every command reads the same
settings (environment variables, see the README).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import Any

import click
from tabulate import tabulate

from worker.queues import QUEUES
from worker.settings import get_settings

CELERY = [sys.executable, "-m", "celery", "-A", "worker.app"]
FLEET = [sys.executable, "-m", "worker.cli"]


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def _table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    if not rows:
        click.echo("(none)")
        return
    click.echo(tabulate([[_cell(r.get(c)) for c in columns] for r in rows], headers=columns))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:59] + "…"


def _fail(message: str) -> None:
    raise click.ClickException(message)


@click.group()
def main() -> None:
    """toolfleet: a Celery fleet running integration tools for AI agents."""


# ---- processes ------------------------------------------------------------------


def _celery(argv: list[str]) -> None:
    from worker.app import app

    app.start(argv)


@main.command()
@click.option("-Q", "--queues", default=",".join(QUEUES), show_default=True)
@click.option("-c", "--concurrency", type=int, default=None, help="[FLEET_WORKER_CONCURRENCY]")
@click.option("-P", "--pool", default=None, help="threads | prefork | gevent [FLEET_WORKER_POOL]")
@click.option("-n", "--hostname", default=None, help="Node name, e.g. http@%h.")
@click.option("-l", "--loglevel", default="INFO", show_default=True)
def worker(
    queues: str, concurrency: int | None, pool: str | None, hostname: str | None, loglevel: str
) -> None:
    """Run a worker consuming QUEUES (threads pool: the tools are I/O-bound)."""
    settings = get_settings()
    unknown = set(queues.split(",")) - set(QUEUES)
    if unknown:
        _fail(f"unknown queue(s) {', '.join(sorted(unknown))}; queues: {', '.join(QUEUES)}")
    argv = [
        "worker",
        "-Q",
        queues,
        "-l",
        loglevel,
        "-P",
        pool or settings.worker_pool,
        "-c",
        str(concurrency or settings.worker_concurrency),
    ]
    if hostname:
        argv += ["-n", hostname]
    _celery(argv)


@main.command()
@click.option("-l", "--loglevel", default="INFO", show_default=True)
def beat(loglevel: str) -> None:
    """Run the beat scheduler (exactly one per fleet)."""
    schedule = os.path.join(tempfile.gettempdir(), "toolfleet-beat-schedule")
    _celery(["beat", "-l", loglevel, "--schedule", schedule])


@main.command()
@click.option("--port", type=int, default=None, help="[FLEET_FLOWER_PORT]")
@click.option("--address", default=None, help="[FLEET_FLOWER_ADDRESS]")
def flower(port: int | None, address: str | None) -> None:
    """Run Flower (dashboard and HTTP API). Without basic auth it binds loopback only."""
    settings = get_settings()
    address = address or settings.flower_address
    argv = ["flower", f"--port={port or settings.flower_port}", f"--address={address}"]
    if settings.flower_basic_auth is not None:
        # Passed through the environment, never argv: argv is visible in `ps`.
        os.environ["FLOWER_BASIC_AUTH"] = settings.flower_basic_auth.get_secret_value()
    elif address in ("127.0.0.1", "localhost", "::1"):
        os.environ.setdefault("FLOWER_UNAUTHENTICATED_API", "true")
    else:
        _fail("Flower on a non-loopback address needs FLEET_FLOWER_BASIC_AUTH")
    _celery(argv)


@main.command()
def migrate() -> None:
    """Create the ledger database if missing and apply migrations."""
    from sqlalchemy.engine import make_url

    from worker.db import migrate as run_migrations

    head = run_migrations()
    where = make_url(get_settings().database_url).render_as_string(hide_password=True)
    click.echo(f"ledger {where} is at migration {head}")


@main.command()
@click.option("--no-flower", is_flag=True, help="Do not start Flower.")
@click.option("--no-beat", is_flag=True, help="Do not start beat.")
@click.option("-c", "--concurrency", type=int, default=None, help="Threads per queue worker.")
def up(no_flower: bool, no_beat: bool, concurrency: int | None) -> None:
    """Migrate, then run a worker per queue, beat and Flower until Ctrl-C."""
    from worker.supervisor import ProcessSpec, Supervisor

    ctx = click.get_current_context()
    ctx.invoke(migrate)
    settings = get_settings()
    concurrency = concurrency or settings.worker_concurrency
    specs = []
    simulated = _simulate_unconfigured_providers(settings.simulator_port)
    if simulated:
        specs.append(
            ProcessSpec("simulator", [*FLEET, "sim", "--port", str(settings.simulator_port)])
        )
        click.echo(
            f"Providers SIMULATED (no credentials configured): {', '.join(simulated)} "
            f"→ local simulator at http://127.0.0.1:{settings.simulator_port}"
        )
    specs += [
        ProcessSpec(
            f"worker-{q}", [*FLEET, "worker", "-Q", q, "-n", f"{q}@%h", "-c", str(concurrency)]
        )
        for q in QUEUES
    ]
    if not no_beat:
        specs.append(ProcessSpec("beat", [*FLEET, "beat"]))
    if not no_flower:
        specs.append(ProcessSpec("flower", [*FLEET, "flower"]))
        click.echo(f"Flower: http://{settings.flower_address}:{settings.flower_port}/")
    sys.exit(Supervisor(specs).run())


def _simulate_unconfigured_providers(port: int) -> list[str]:
    """Point every provider without credentials at the local simulator (via the env
    the fleet's children inherit). Returns the providers simulated."""
    from simulator import Credentials

    base = f"http://127.0.0.1:{port}"
    simulated = []
    providers = {
        "GitHub": (
            "GITHUB_TOKEN",
            {"GITHUB_TOKEN": Credentials.github_token, "GITHUB_API_URL": f"{base}/github"},
        ),
        "Slack": (
            "SLACK_BOT_TOKEN",
            {"SLACK_BOT_TOKEN": Credentials.slack_token, "SLACK_API_URL": f"{base}/slack/api/"},
        ),
        "Jira": (
            "JIRA_API_TOKEN",
            {
                "JIRA_API_TOKEN": Credentials.jira_token,
                "JIRA_USERNAME": Credentials.jira_user,
                "JIRA_BASE_URL": f"{base}/jira",
            },
        ),
    }
    for name, (credential, env) in providers.items():
        if not os.environ.get(credential):
            os.environ.update(env)
            simulated.append(name)
    return simulated


@main.command()
@click.option("--port", type=int, default=None, help="[FLEET_SIMULATOR_PORT]")
def sim(port: int | None) -> None:
    """Run the local provider simulator (GitHub, Slack, Jira APIs) in the foreground."""
    from simulator import main as simulator_main

    port = get_settings().simulator_port if port is None else port
    sys.exit(simulator_main(["--port", str(port)]))


# ---- tools ---------------------------------------------------------------------------


@main.command()
@click.option("--json", "as_json", is_flag=True, help="The full catalog with JSON schemas.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["catalog", "mcp", "openai"]),
    default="catalog",
    show_default=True,
    help="Shape of the --json export.",
)
@click.option("--markdown", is_flag=True, help="The README's tool table.")
def tools(as_json: bool, fmt: str, markdown: bool) -> None:
    """List the tools agents can call."""
    from worker.tool import catalog, markdown_table

    specs = sorted(catalog().values(), key=lambda s: s.name)
    if markdown:
        click.echo(markdown_table(specs))
        return
    if as_json:
        if fmt == "mcp":
            _echo_json({"tools": [s.as_mcp() for s in specs]})
        elif fmt == "openai":
            _echo_json([s.as_openai() for s in specs])
        else:
            _echo_json([s.describe() for s in specs])
        return
    rows = [
        {
            "tool": s.name,
            "queue": s.queue,
            "access": "write" if s.writes else "read",
            "params": ", ".join(_param_names(s.params_schema())),
            "description": s.description.splitlines()[0],
        }
        for s in specs
    ]
    _table(rows, ["tool", "queue", "access", "params", "description"])


def _param_names(schema: dict[str, Any]) -> list[str]:
    required = set(schema.get("required", []))
    return [f"{n}*" if n in required else n for n in schema.get("properties", {})]


@main.command()
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
    from celery.exceptions import TimeoutError as CeleryTimeout

    from worker.client import FleetClient, UnknownTool
    from worker.errors import ToolError

    try:
        parsed = json.loads(params)
    except json.JSONDecodeError as exc:
        _fail(f"PARAMS is not valid JSON: {exc}")
    try:
        handle = FleetClient().call(
            tool,
            parsed,
            idempotency_key=idempotency_key,
            agent_task_id=agent_task_id,
            step_id=step_id,
        )
    except (UnknownTool, ToolError) as exc:
        _fail(str(exc))
    if not wait:
        click.echo(handle.id)
        return
    try:
        _echo_json({"id": handle.id, "result": handle.get(timeout=timeout)})
    except ToolError as exc:
        _echo_json({"id": handle.id, "error": exc.to_dict()})
        sys.exit(1)
    except CeleryTimeout:
        _fail(
            f"no result within {timeout:g}s; the run goes on: fleet runs --json | grep {handle.id}"
        )


# ---- the ledger -------------------------------------------------------------------


@main.command()
@click.option("--tool", default=None)
@click.option("--status", default=None)
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def runs(tool: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """The latest runs, newest first."""
    from worker import ledger

    rows = ledger.list_runs(tool=tool, status=status, limit=limit)
    if as_json:
        _echo_json(rows)
        return
    for row in rows:
        row["error"] = (row["error"] or {}).get("type")
    _table(
        rows, ["id", "tool", "status", "attempts", "parks", "error", "created_at", "finished_at"]
    )


@main.group()
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
        _echo_json(rows)
        return
    for row in rows:
        error = row["error"] or {}
        row["error"] = f"{error.get('type')}: {error.get('message')}"
    _table(rows, ["id", "tool", "run_id", "error", "dead_at", "state", "replayed_as"])


@dlq.command("show")
@click.argument("letter_id", type=int)
def dlq_show(letter_id: int) -> None:
    """Everything kept about one dead letter (JSON)."""
    from worker import ledger

    letter = ledger.get_letter(letter_id)
    if letter is None:
        _fail(f"no dead letter {letter_id}")
    _echo_json(letter)


@dlq.command("replay")
@click.argument("letter_id", type=int)
def dlq_replay(letter_id: int) -> None:
    """Re-run a dead letter as a new run (params re-validated first)."""
    from worker.client import UnknownTool
    from worker.deadletters import NotReplayable, replay
    from worker.errors import ToolError

    try:
        new_id = replay(letter_id)
    except (LookupError, NotReplayable, ValueError, UnknownTool, ToolError) as exc:
        _fail(str(exc))
    click.echo(f"dead letter {letter_id} replayed as run {new_id}")


@dlq.command("discard")
@click.argument("letter_id", type=int)
def dlq_discard(letter_id: int) -> None:
    """Mark a dead letter discarded (it is kept, not deleted)."""
    from worker.deadletters import discard

    try:
        discard(letter_id)
    except (LookupError, ValueError) as exc:
        _fail(str(exc))
    click.echo(f"dead letter {letter_id} discarded")


if __name__ == "__main__":
    main()

"""`fleet up`: migrate, then a worker per queue, beat, Flower (and the provider
simulator for providers without credentials) in the foreground until Ctrl-C."""

from __future__ import annotations

import json
import os
import sys

import click

from worker.cli.processes import migrate
from worker.queues import QUEUES
from worker.settings import get_settings

FLEET = [sys.executable, "-m", "worker.cli"]
# Run against the simulator when no syncs are configured: `fleet syncs` shows them.
DEMO_SYNCS = {
    "GitHub": [
        {"name": "demo-github-issues", "kind": "github.issues", "every": 60, "repo": "octo/hello"},
        {"name": "demo-github-commits", "kind": "github.commits", "every": 300,
         "repo": "octo/hello"},
    ],
    "Jira": [{"name": "demo-jira-issues", "kind": "jira.issues", "every": 120,
              "jql": "project = DEMO"}],
    "Slack": [{"name": "demo-slack-history", "kind": "slack.history", "every": 120,
               "channel": "C0001"}],
}  # fmt: skip


@click.command()
@click.option("--no-flower", is_flag=True, help="Do not start Flower.")
@click.option("--no-beat", is_flag=True, help="Do not start beat.")
@click.option("-c", "--concurrency", type=int, default=None, help="Threads per queue worker.")
def up(no_flower: bool, no_beat: bool, concurrency: int | None) -> None:
    """Migrate, then run a worker per queue, beat and Flower until Ctrl-C."""
    from worker.cli.supervisor import ProcessSpec, Supervisor

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
        if not (settings.syncs or settings.syncs_file):
            demos = [entry for name in simulated for entry in DEMO_SYNCS[name]]
            os.environ["FLEET_SYNCS"] = json.dumps(demos)
            click.echo(f"Demo syncs (FLEET_SYNCS): {', '.join(d['name'] for d in demos)}")
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

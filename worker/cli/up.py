"""`fleet up`: migrate, then a worker per queue, beat, Flower, the metrics exporter,
the MCP server over HTTP (with ``/events``), and the provider simulator for
providers without credentials, in the foreground until Ctrl-C.

Before anything starts, every port the fleet is about to listen on is tried:
one that is taken is reported in a line naming the setting that moves it
(rather than as a child's traceback), and nothing is started. Ctrl-C (or
SIGTERM, or SIGHUP: the terminal closed) stops the workers first (a warm
shutdown: running calls finish, against a simulator that is still up), then
beat, Flower, the exporter, the MCP server and the simulator. If `fleet up`
itself is killed, its children stop with it (see worker.cli.supervisor), so
no port stays taken for the next one.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
from dataclasses import dataclass

import click

from worker.cli.processes import migrate
from worker.providers import Declaration, declarations
from worker.queues import QUEUES
from worker.settings import get_settings

FLEET = [sys.executable, "-m", "worker.cli"]
# Against the simulator and with no syncs configured, each simulated provider's demo
# syncs (its declaration's) run, each once as beat starts. Only the children get them
# (and the simulated credentials): `fleet syncs` and `fleet doctor` in another shell
# find them in the ledger (beat records them) and by asking the workers.
# Stop stages (see worker.cli.supervisor): the workers drain before the rest stops.
WORKERS_STAGE, SERVICES_STAGE = 0, 1


@dataclass(frozen=True)
class Listener:
    """A port one of the fleet's processes listens on, and the setting that moves it."""

    what: str
    address: str
    port: int
    setting: str
    address_setting: str | None = None


@click.command()
@click.option("--no-flower", is_flag=True, help="Do not start Flower.")
@click.option("--no-beat", is_flag=True, help="Do not start beat.")
@click.option("--no-metrics", is_flag=True, help="Do not start the metrics exporter.")
@click.option("--no-mcp", is_flag=True, help="Do not start the MCP server (HTTP).")
@click.option("-c", "--concurrency", type=int, default=None, help="Threads per queue worker.")
def up(
    no_flower: bool, no_beat: bool, no_metrics: bool, no_mcp: bool, concurrency: int | None
) -> None:
    """Migrate, then run a worker per queue, beat, Flower, the metrics exporter and the MCP
    server (HTTP) until Ctrl-C (which stops the workers first: running calls finish)."""
    from worker.cli.supervisor import ProcessSpec, Supervisor

    ctx = click.get_current_context()
    settings = get_settings()
    simulated = _simulate_unconfigured_providers(settings.simulator_port)
    sim = Listener(
        "the provider simulator", "127.0.0.1", settings.simulator_port, "FLEET_SIMULATOR_PORT"
    )
    flower = Listener(
        "Flower",
        settings.flower_address,
        settings.flower_port,
        "FLEET_FLOWER_PORT",
        "FLEET_FLOWER_ADDRESS",
    )
    metrics = Listener(
        "the metrics exporter",
        settings.metrics_address,
        settings.metrics_port,
        "FLEET_METRICS_PORT",
        "FLEET_METRICS_ADDRESS",
    )
    mcp = Listener(
        "the MCP server", settings.mcp_address, settings.mcp_port, "FLEET_MCP_PORT",
        "FLEET_MCP_ADDRESS",
    )  # fmt: skip
    wanted = [
        (sim, bool(simulated)),
        (flower, not no_flower),
        (metrics, not no_metrics),
        (mcp, not no_mcp),
    ]
    problems = port_problems([listener for listener, on in wanted if on])
    for problem in problems:
        click.echo(f"Error: {problem}", err=True)
    if problems:
        ctx.exit(1)
    ctx.invoke(migrate)
    concurrency = concurrency or settings.worker_concurrency
    specs = []
    if simulated:
        specs.append(
            ProcessSpec(
                "simulator", [*FLEET, "sim", "--port", str(sim.port)], stop_stage=SERVICES_STAGE
            )
        )
        click.echo(
            f"Providers SIMULATED (no credentials configured): "
            f"{', '.join(d.title for d in simulated)} "
            f"→ local simulator at http://127.0.0.1:{sim.port}"
        )
        if not (settings.syncs or settings.syncs_file):
            demos = [entry for d in simulated if d.simulate for entry in d.simulate.syncs]
            os.environ["FLEET_SYNCS"] = json.dumps(demos)
            click.echo(
                f"Demo syncs (FLEET_SYNCS, run as beat starts): "
                f"{', '.join(d['name'] for d in demos)}; `fleet syncs` in any shell lists them"
            )
        for declaration in declarations():
            if declaration.demo is not None and (demo := declaration.demo.env(settings)):
                os.environ.update(demo)
                click.echo(declaration.demo.note)
    specs += [
        ProcessSpec(
            f"worker-{q}",
            [*FLEET, "worker", "-Q", q, "-n", f"{q}@%h", "-c", str(concurrency)],
            stop_stage=WORKERS_STAGE,
        )
        for q in QUEUES
    ]
    if not no_beat:
        specs.append(ProcessSpec("beat", [*FLEET, "beat"], stop_stage=SERVICES_STAGE))
    if not no_flower:
        specs.append(ProcessSpec("flower", [*FLEET, "flower"], stop_stage=SERVICES_STAGE))
        click.echo(f"Flower: http://{flower.address}:{flower.port}/")
    if not no_metrics:
        specs.append(ProcessSpec("metrics", [*FLEET, "metrics"], stop_stage=SERVICES_STAGE))
        click.echo(f"Metrics: http://{metrics.address}:{metrics.port}/metrics")
    if not no_mcp:
        specs.append(ProcessSpec("mcp", [*FLEET, "mcp", "--http"], stop_stage=SERVICES_STAGE))
        base = f"http://{mcp.address}:{mcp.port}"
        click.echo(f"MCP: {base}/mcp · completion events: {base}/events")
    sys.exit(Supervisor(specs).run())


def port_problems(listeners: list[Listener]) -> list[str]:
    """One line for each port that cannot be listened on, naming the setting to change."""
    problems = []
    claimed: dict[int, Listener] = {}
    for item in listeners:
        other = claimed.setdefault(item.port, item)
        if other is not item:
            problems.append(
                f"{other.what} and {item.what} are both set to port {item.port}: "
                f"change {other.setting} or {item.setting}"
            )
            continue
        error = _bind_error(item.address, item.port)
        if error is None:
            continue
        if error.errno == errno.EADDRINUSE:
            problems.append(
                f"port {item.port} ({item.what}, on {item.address}) is already in use: "
                f"set {item.setting} to a free port"
            )
        else:
            reason = error.strerror or str(error)
            settings = " and ".join(filter(None, (item.address_setting, item.setting)))
            problems.append(
                f"{item.what} cannot listen on {item.address}:{item.port} ({reason}): "
                f"check {settings}"
            )
    return problems


def _bind_error(address: str, port: int) -> OSError | None:
    """Why binding ``address:port`` fails, or None if it would succeed now."""
    try:
        family, kind, proto, _, where = socket.getaddrinfo(
            address, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except OSError as exc:  # an address that does not resolve
        return exc
    with socket.socket(family, kind, proto) as sock:
        # As the servers themselves do: a port whose old connections linger in
        # TIME_WAIT is free; one with a listener on it is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(where)
        except OSError as exc:
            return exc
    return None


def _simulate_unconfigured_providers(port: int) -> list[Declaration]:
    """Point every provider without credentials at the local simulator (via the env
    the fleet's children inherit). Returns the providers simulated."""
    from simulator import Credentials

    base = f"http://127.0.0.1:{port}"
    simulated = []
    for declaration in declarations():
        credential = declaration.credential_env()
        if declaration.simulate is None or credential is None or os.environ.get(credential):
            continue
        os.environ.update(declaration.simulate.env(base, Credentials()))
        simulated.append(declaration)
    return simulated

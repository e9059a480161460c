"""`fleet worker | beat | flower | metrics | migrate | sim`: run one of the fleet's processes."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import click

from worker.cli.output import fail
from worker.loopback import is_loopback
from worker.queues import QUEUES
from worker.settings import get_settings

if TYPE_CHECKING:
    from celery import Celery


def _app() -> Celery:
    from worker.syncs.config import SyncConfigError

    try:
        from worker.app import app
    except SyncConfigError as exc:  # refused at start, naming the entry and the field
        fail(str(exc))
    return app


def _celery(argv: list[str]) -> None:
    _app().start(argv)


@click.command()
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
        fail(f"unknown queue(s) {', '.join(sorted(unknown))}; queues: {', '.join(QUEUES)}")
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


@click.command()
@click.option("-l", "--loglevel", default="INFO", show_default=True)
def beat(loglevel: str) -> None:
    """Run the beat scheduler. Its schedule lives in Redis behind a leader lock
    (celery-redbeat): a second beat waits as a standby, it never schedules twice."""
    _celery(["beat", "-l", loglevel])


@click.command()
@click.option("--port", type=int, default=None, help="[FLEET_FLOWER_PORT]")
@click.option("--address", default=None, help="[FLEET_FLOWER_ADDRESS]")
def flower(port: int | None, address: str | None) -> None:
    """Run Flower (dashboard and HTTP API). Without basic auth it binds loopback only;
    requests a browser sends from another site are refused (worker.ops.flower_guard)."""
    settings = get_settings()
    address = address or settings.flower_address
    argv = [f"--port={port or settings.flower_port}", f"--address={address}"]
    if settings.flower_basic_auth is not None:
        # Passed through the environment, never argv: argv is visible in `ps`.
        os.environ["FLOWER_BASIC_AUTH"] = settings.flower_basic_auth.get_secret_value()
    elif is_loopback(address):
        os.environ.setdefault("FLOWER_UNAUTHENTICATED_API", "true")
    else:
        fail("Flower on a non-loopback address needs FLEET_FLOWER_BASIC_AUTH")
    from worker.ops.flower_guard import serve

    serve(_app(), argv)


@click.command()
@click.option("--port", type=int, default=None, help="[FLEET_METRICS_PORT, 9808]")
@click.option("--address", default=None, help="[FLEET_METRICS_ADDRESS, 127.0.0.1]")
def metrics(port: int | None, address: str | None) -> None:
    """Serve Prometheus metrics of the whole fleet at /metrics (one per deployment)."""
    from worker.app import app
    from worker.ops.metrics import serve

    settings = get_settings()
    port, address = port or settings.metrics_port, address or settings.metrics_address
    click.echo(f"metrics: http://{address}:{port}/metrics", err=True)
    try:
        serve(app, port, address)
    except OSError as exc:
        fail(f"cannot serve metrics on {address}:{port} ({exc.strerror}): set FLEET_METRICS_PORT")
    except KeyboardInterrupt:
        pass


@click.command()
def migrate() -> None:
    """Create the ledger database if missing and apply migrations."""
    from sqlalchemy.engine import make_url

    from worker.ledger.schema import migrate as run_migrations

    head = run_migrations()
    where = make_url(get_settings().database_url).render_as_string(hide_password=True)
    click.echo(f"ledger {where} is at migration {head}")


@click.command()
@click.option("--port", type=int, default=None, help="[FLEET_SIMULATOR_PORT]")
def sim(port: int | None) -> None:
    """Run the local provider simulator (the providers' fake APIs) in the foreground."""
    from simulator import main as simulator_main

    port = get_settings().simulator_port if port is None else port
    sys.exit(simulator_main(["--port", str(port)]))

"""Redis commands per tool run, fleet vs bare Celery, on a redis-server of the
benchmark's own (``INFO commandstats`` counts every client of a server: nothing
else on the machine must add to it).

    python -m bench.commands     # one JSON line: {"fleet": ..., "bare": ...}

A stream of no-op calls goes through a running worker (publish, delivery,
policy, task events, result, completion event, ack); the benchmark's own
polling is subtracted. A caller waiting on ``AsyncResult.get()`` adds its own
commands (SUBSCRIBE, GET, UNSUBSCRIBE) to either.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.support import DATABASE, free_port, start_redis

RUNS = 1000
CONCURRENCY = 8
BROKER = f"redis://127.0.0.1:{free_port()}/0"
os.environ.update(FLEET_BROKER_URL=BROKER, FLEET_DATABASE_URL=DATABASE)


def redis_commands(client: Any) -> int:
    """Commands the server has run so far (every command, every client)."""
    stats = client.info("commandstats")
    return sum(int(entry["calls"]) for entry in stats.values())


def per_run(
    server: Any, start_worker: Callable[[], Any], send: Callable[[], Any], queue: str
) -> float:
    from bench.drains import stop

    worker = start_worker()
    try:
        time.sleep(1.0)  # past the worker's start-up chatter
        before = redis_commands(server)
        for _ in range(RUNS):
            send()
        polls, quiet = 0, 0
        while quiet < 2:  # empty twice, 0.2 s apart: nothing is between pop and bookkeeping
            time.sleep(0.2)
            depth, held = server.llen(queue), server.hlen("unacked")
            polls += 2
            quiet = quiet + 1 if not depth and not held else 0
        after = redis_commands(server)
    finally:
        stop(worker)
    return (after - before - polls - 1) / RUNS  # polls and the first INFO


def main() -> None:
    import redis

    from bench.bare_app import app as bare
    from bench.drains import bare_worker, fleet_worker
    from worker.client import FleetClient
    from worker.ledger.schema import migrate

    migrate()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        port = int(BROKER.rsplit(":", 1)[1].split("/", maxsplit=1)[0])
        server_proc = start_redis(port, tmp)
        try:
            server = redis.Redis.from_url(BROKER)
            client = FleetClient()
            fleet = per_run(
                server,
                lambda: fleet_worker("syncs", CONCURRENCY, tmp / "fleet.log"),
                lambda: client.call("fleet.echo", {"message": "x"}),
                "syncs",
            )
            theirs = per_run(
                server,
                lambda: bare_worker(CONCURRENCY, tmp / "bare.log", "commands@bench"),
                lambda: bare.send_task("bare.noop", kwargs={"message": "x"}),
                "bare",
            )
        finally:
            server_proc.terminate()
            server_proc.wait(10)
    print(json.dumps({"fleet": fleet, "bare": theirs}))


if __name__ == "__main__":
    main()

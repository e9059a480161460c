"""Test helpers, one module per job: servers (a scripted HTTP server, redis-server,
PostgreSQL, a TCP proxy), processes (worker processes, `fleet` commands), calls
(polling, final runs, dead letters) and fleet (a broker, app and client of a test's
own). Every public name is importable from here: ``from tests.support import X``."""

from tests.support.calls import call_dead, call_tool, letters_of, wait_final, wait_for
from tests.support.fleet import OwnFleet
from tests.support.processes import REPO, WorkerProcess, fleet_cli
from tests.support.servers import (
    PostgresServer,
    RedisServer,
    Reply,
    ScriptedServer,
    Seen,
    TcpProxy,
    free_port,
)

__all__ = [
    "REPO",
    "OwnFleet",
    "PostgresServer",
    "RedisServer",
    "Reply",
    "ScriptedServer",
    "Seen",
    "TcpProxy",
    "WorkerProcess",
    "call_dead",
    "call_tool",
    "fleet_cli",
    "free_port",
    "letters_of",
    "wait_final",
    "wait_for",
]

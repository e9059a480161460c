"""A published call's ``queued`` row, written by the process that published it.

Publishers (``fleet call``, an agent's FleetClient, the MCP server, Flower's
API, beat) write this one row per call and nothing else, so they hold one
plain psycopg connection per process instead of the workers' SQLAlchemy pool
(worker.ledger.db): importing SQLAlchemy alone costs a one-shot ``fleet call``
more than everything else it does. The contract is the pool's: autocommit,
the same connect timeout, an outage raised as LedgerUnavailable with the
connection dropped, and a new one made by the next call.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from worker.ledger.errors import LedgerUnavailable
from worker.ledger.refs import RunRef, ref_columns
from worker.redact import redact
from worker.settings import get_settings

CONNECT_TIMEOUT_SECONDS = 5

_INSERT = """
    INSERT INTO tool_runs (id, tool, queue, params, agent_task_id, step_id, requested_key, status)
    VALUES (%(id)s, %(tool)s, %(queue)s, %(params)s, %(agent_task_id)s, %(step_id)s,
            %(requested_key)s, 'queued')
    ON CONFLICT (id) DO NOTHING
"""

_lock = threading.Lock()
_connection: psycopg.Connection[Any] | None = None
_connection_pid: int | None = None


def record_queued(ref: RunRef) -> None:
    """A run was published: make it visible as ``queued`` (no-op if already known)."""
    global _connection, _connection_pid
    columns = ref_columns(ref)
    with _lock:
        if _connection_pid != os.getpid():
            # Forked: leave the parent's connection alone (psycopg closes a socket
            # only in the process that opened it) and make one of our own.
            _connection = None
        try:
            if _connection is None or _connection.closed:
                _connection = psycopg.connect(
                    libpq_url(get_settings().database_url),
                    autocommit=True,
                    connect_timeout=CONNECT_TIMEOUT_SECONDS,
                )
                _connection_pid = os.getpid()
            _connection.execute(_INSERT, {**columns, "params": Jsonb(columns["params"])})
        except psycopg.OperationalError as exc:
            if _connection is not None:
                _connection.close()
            _connection = None
            raise LedgerUnavailable(f"ledger unavailable: {redact(str(exc))}") from None


def libpq_url(url: str) -> str:
    """The settings' SQLAlchemy URL (``postgresql+psycopg://...``) as libpq takes it."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.split("+", 1)[0] in ("postgresql", "postgres"):
        return f"postgresql://{rest}"
    return url

"""Postgres plumbing: one pooled engine per process and the ledger's short transactions.

Celery's own SQLAlchemy result backend opens a connection per result outside
prefork; the ledger instead keeps one pooled engine per process, created
lazily and re-created in a forked child (the pid check), never shared
across a fork. A database outage surfaces as :class:`LedgerUnavailable`,
which the policy turns into a park (the message stays in the broker).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.exc import DBAPIError, OperationalError

from worker.ledger.errors import LedgerUnavailable
from worker.redact import redact
from worker.settings import get_settings

__all__ = ["LedgerUnavailable", "dispose_after_fork", "driver_cursor", "engine", "transaction"]

_lock = threading.Lock()
_engine: Engine | None = None
_engine_pid: int | None = None


def engine() -> Engine:
    """This process's engine (pooled; sized for a threads pool)."""
    global _engine, _engine_pid
    with _lock:
        if _engine is None or _engine_pid != os.getpid():
            settings = get_settings()
            _engine = create_engine(
                settings.database_url,
                pool_size=max(2, min(settings.worker_concurrency, 10)),
                max_overflow=settings.worker_concurrency,
                # No pre-ping (a round trip per checkout): a connection found dead
                # fails its statement, is dropped from the pool, and the policy
                # parks or keeps the write in the outbox.
                pool_recycle=1800,
                connect_args={"connect_timeout": 5},
            )
            _engine_pid = os.getpid()
        return _engine


def dispose_after_fork() -> None:
    """In a forked child: drop the parent's connections without closing its sockets."""
    global _engine
    with _lock:
        if _engine is not None:
            _engine.dispose(close=False)
            _engine = None


@contextmanager
def transaction(*, atomic: bool = True) -> Iterator[Connection]:
    """A connection from the pool; ``atomic=False`` for single statements.

    A single statement runs in autocommit: one round trip instead of three
    (BEGIN, the statement, COMMIT), on the hottest paths of every run.
    """
    try:
        if atomic:
            with engine().begin() as conn:
                yield conn
        else:
            with engine().connect() as conn:
                yield conn.execution_options(isolation_level="AUTOCOMMIT")
    except OperationalError as exc:
        raise LedgerUnavailable(f"ledger unavailable: {redact(str(exc.orig))}") from None
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise LedgerUnavailable(f"ledger connection lost: {redact(str(exc.orig))}") from None
        raise


@contextmanager
def driver_cursor() -> Iterator[Any]:
    """A psycopg cursor (rows as dicts) on a pooled connection, in autocommit.

    For the two statements every run makes (begin, succeed): SQLAlchemy's
    execution layer cost more of a worker's CPU than Postgres took to run
    them. Same pool, same failure contract as :func:`transaction`: a lost
    connection is dropped from the pool and raised as LedgerUnavailable.
    """
    import psycopg
    from psycopg.rows import dict_row

    try:
        pooled = engine().raw_connection()
    except (OperationalError, psycopg.OperationalError) as exc:
        # The pool raises the driver's own error here, not SQLAlchemy's wrapper.
        reason = exc.orig if isinstance(exc, OperationalError) else exc
        raise LedgerUnavailable(f"ledger unavailable: {redact(str(reason))}") from None
    driver = pooled.driver_connection
    try:
        driver.autocommit = True
        with driver.cursor(row_factory=dict_row) as cursor:
            yield cursor
    except psycopg.OperationalError as exc:
        pooled.invalidate(exc)
        raise LedgerUnavailable(f"ledger unavailable: {redact(str(exc))}") from None
    finally:
        if not driver.closed:
            driver.autocommit = False  # the pool's other users expect transactions
        pooled.close()  # back to the pool

"""The system of record: ``tool_runs`` and ``dead_letters`` in Postgres.

``from worker import ledger`` gives the ledger's API (run and letter writes
and reads, :class:`RunRef`, :class:`LedgerUnavailable`); the modules behind
it:

- ``models``, ``migrations/``: the tables, and Alembic mirroring them;
- ``db``: one pooled engine per process, short transactions, outage → ``LedgerUnavailable``;
- ``schema``: create the database, migrate it, refuse to run unmigrated;
- ``queued``: a published call's ``queued`` row, from publishers (no SQLAlchemy);
- ``claims``: a run claimed for one execution (the fence every later write names);
- ``runs``: a run's writes from its claim to final;
- ``history``: its attempts and parks;
- ``refs``: the values passed to and from the ledger (RunRef, Begun, Holder);
- ``reads``: one run in full, the latest runs, runs the broker may have lost;
- ``announce``: a final row's completion event (worker.events);
- ``letters``: dead letters;
- ``outbox``: final writes kept in Redis while Postgres is unreachable;
- ``stats``: counts for the operator's views;
- ``errors``: :class:`LedgerUnavailable`, the one failure callers handle.

Each name is imported from its module when first used (PEP 562): a process
that only publishes calls (``fleet call``, an agent's client) never imports
SQLAlchemy, which the tables and the workers' pool need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from worker.ledger.announce import announce_again
    from worker.ledger.claims import begin, renew
    from worker.ledger.errors import LedgerUnavailable
    from worker.ledger.letters import (
        bury,
        bury_lost,
        bury_message,
        get_letter,
        list_letters,
        resolve_letter,
    )
    from worker.ledger.models import FINAL_STATUSES, LetterState, RunStatus
    from worker.ledger.queued import record_queued
    from worker.ledger.reads import get_run, list_runs, stale_waiting_runs
    from worker.ledger.refs import Begun, Holder, RunRef
    from worker.ledger.runs import (
        copy_outcome,
        mark_republished,
        park,
        schedule_retry,
        succeed,
    )

_HOME = {
    "announce_again": "announce",
    **dict.fromkeys(["begin", "renew"], "claims"),
    "LedgerUnavailable": "errors",
    **dict.fromkeys(
        ["bury", "bury_lost", "bury_message", "get_letter", "list_letters", "resolve_letter"],
        "letters",
    ),
    **dict.fromkeys(["FINAL_STATUSES", "LetterState", "RunStatus"], "models"),
    "record_queued": "queued",
    **dict.fromkeys(["get_run", "list_runs", "stale_waiting_runs"], "reads"),
    **dict.fromkeys(["Begun", "Holder", "RunRef"], "refs"),
    **dict.fromkeys(
        ["copy_outcome", "mark_republished", "park", "schedule_retry", "succeed"],
        "runs",
    ),
}

__all__ = [
    "FINAL_STATUSES",
    "Begun",
    "Holder",
    "LedgerUnavailable",
    "LetterState",
    "RunRef",
    "RunStatus",
    "announce_again",
    "begin",
    "bury",
    "bury_lost",
    "bury_message",
    "copy_outcome",
    "get_letter",
    "get_run",
    "list_letters",
    "list_runs",
    "mark_republished",
    "park",
    "record_queued",
    "renew",
    "resolve_letter",
    "schedule_retry",
    "stale_waiting_runs",
    "succeed",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})

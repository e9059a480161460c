"""The system of record: ``tool_runs`` and ``dead_letters`` in Postgres.

``from worker import ledger`` gives the ledger's API (run and letter writes
and reads, :class:`RunRef`, :class:`LedgerUnavailable`); the modules behind
it:

- ``models``: the tables; ``migrations/``: Alembic, mirroring them;
- ``db``: one pooled engine per process, short transactions, outage → ``LedgerUnavailable``;
- ``schema``: create the database, migrate it, refuse to run unmigrated;
- ``runs``: a run's rows from ``queued`` to final; ``history``: its attempts and parks;
- ``refs``: the values passed to and from the ledger (RunRef, Begun, Holder);
- ``reads``: one run in full, the latest runs, runs the broker may have lost;
- ``announce``: a final row's completion event (worker.events);
- ``letters``: dead letters;
- ``outbox``: final writes kept in Redis while Postgres is unreachable.
"""

from worker.ledger.announce import announce_again
from worker.ledger.db import LedgerUnavailable
from worker.ledger.letters import (
    bury,
    bury_lost,
    bury_message,
    get_letter,
    list_letters,
    resolve_letter,
)
from worker.ledger.models import FINAL_STATUSES, LetterState, RunStatus
from worker.ledger.reads import get_run, list_runs, stale_waiting_runs
from worker.ledger.runs import (
    Begun,
    Holder,
    RunRef,
    begin,
    copy_outcome,
    mark_republished,
    park,
    record_queued,
    schedule_retry,
    succeed,
)

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
    "resolve_letter",
    "schedule_retry",
    "stale_waiting_runs",
    "succeed",
]

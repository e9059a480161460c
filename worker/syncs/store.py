"""A sync's rows: ``sync_state`` (cursor, checkpoint, lease) and ``synced_items``.

One execution at a time: :func:`claim` takes the sync's lease in Postgres
for one execution of one run (free, expired, or held by this run's own
earlier execution: a run resuming after a park or a retry takes over from
itself); every page renews it *in the same transaction* that upserts the
page's items and moves the checkpoint, and that transaction writes nothing
unless this execution still holds the lease — so an execution that lost its
lease (it parked or stalled past it and another took over, or a stale
delivery of the same run) cannot write a page twice. A ``--full`` run
forgets the cursor once: the checkpoint remembers which run did
(``full_run``), so its retries resume the re-read instead of restarting it.
A crash resumes from the last committed page. Items are upserted by
``(provider, kind, external_id)`` and written only when their content hash
changed: re-reading an unchanged item writes nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert

from worker.ledger.db import transaction
from worker.ledger.models import SyncedItem, SyncState
from worker.redact import redact_json
from worker.syncs.kinds import Page

STATE = SyncState.__table__
ITEMS = SyncedItem.__table__
COUNTS = ("pages", "inserted", "updated", "unchanged")


class LeaseLost(RuntimeError):
    """Another run of this sync holds it now: this one stops without writing."""


@dataclass
class Claim:
    """Where a run (re)starts: its ``since``, its next page, what it has seen and done."""

    since: str | None
    token: Any | None
    high_water: str | None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    full_run: str | None = None  # the --full run that forgot the cursor, if one did


_FORGETS = "(:full AND (checkpoint->>'full_run') IS DISTINCT FROM :run)"
_CLAIM = text(
    f"""
    UPDATE sync_state SET
        -- a --full run forgets the cursor once, the first time it claims the sync
        cursor = CASE WHEN {_FORGETS} THEN NULL ELSE cursor END,
        checkpoint = CASE WHEN {_FORGETS} THEN jsonb_build_object('full_run', :run)
                          ELSE checkpoint END,
        last_started_at = CASE WHEN run_id IS DISTINCT FROM :run THEN now()
                               ELSE last_started_at END,
        run_id = :run, execution = :execution, last_run_id = :run,
        lease_until = now() + make_interval(secs => :lease), updated_at = now()
    WHERE name = :name AND (run_id IS NULL OR lease_until < now()
                            OR (run_id = :run AND coalesce(execution, 0) <= :execution))
    RETURNING cursor, checkpoint
    """  # noqa: S608 — built from module constants only
)


def claim(
    name: str,
    kind: str,
    target: str,
    run_id: str,
    *,
    execution: int,
    lease: float,
    full: bool,
) -> tuple[str | None, dict[str, Any] | None] | None:
    """Take the sync for execution ``execution`` of ``run_id``: ``(cursor, checkpoint)``,
    or ``None`` if another run holds it (counted as a skipped run)."""
    with transaction() as conn:
        conn.execute(
            pg_insert(STATE)
            .values(name=name, kind=kind, target=target)
            .on_conflict_do_update(index_elements=["name"], set_={"kind": kind, "target": target})
        )
        row = conn.execute(
            _CLAIM,
            {"name": name, "run": run_id, "execution": execution, "lease": lease, "full": full},
        ).first()
        if row is None:
            conn.execute(
                update(STATE)
                .where(STATE.c.name == name)
                .values(skipped_runs=STATE.c.skipped_runs + 1)
            )
            return None
        return row.cursor, row.checkpoint


def holder(name: str) -> str | None:
    with transaction(atomic=False) as conn:
        return conn.execute(select(STATE.c.run_id).where(STATE.c.name == name)).scalar()


_UPSERT = text(
    """
    INSERT INTO synced_items AS i
        (provider, kind, external_id, sync_name, payload, content_hash, source_updated_at)
    SELECT * FROM jsonb_to_recordset(:rows) AS r(
        provider text, kind text, external_id text, sync_name text, payload jsonb,
        content_hash text, source_updated_at text)
    ON CONFLICT (provider, kind, external_id) DO UPDATE SET
        payload = EXCLUDED.payload, content_hash = EXCLUDED.content_hash,
        source_updated_at = EXCLUDED.source_updated_at, sync_name = EXCLUDED.sync_name,
        last_seen = now(), updated_at = now()
    WHERE i.content_hash <> EXCLUDED.content_hash
    RETURNING (xmax = 0) AS inserted
    """
).bindparams(bindparam("rows", type_=JSONB))

_RENEW = text(
    """
    UPDATE sync_state SET checkpoint = :checkpoint,
        lease_until = now() + make_interval(secs => :lease), updated_at = now()
    WHERE name = :name AND run_id = :run AND execution = :execution
    """
).bindparams(bindparam("checkpoint", type_=JSONB))

_FINISH = text(
    """
    UPDATE sync_state SET checkpoint = NULL, run_id = NULL, execution = NULL,
        lease_until = NULL, cursor = coalesce(:cursor, cursor), last_finished_at = now(),
        last_success_at = now(), last_outcome = 'succeeded', last_counts = :counts,
        last_error = NULL, consecutive_failures = 0, updated_at = now()
    WHERE name = :name AND run_id = :run AND execution = :execution
    """
).bindparams(bindparam("counts", type_=JSONB))


def commit_page(
    name: str,
    provider: str,
    kind: str,
    run_id: str,
    execution: int,
    page: Page,
    claim: Claim,
    *,
    lease: float,
) -> None:
    """Upsert the page's items and move the checkpoint (or, on the last page, the cursor)
    in one transaction that commits only while this execution holds the sync. ``claim``
    is advanced to where the next page starts."""
    holder = {"name": name, "run": run_id, "execution": execution}
    rows = [
        {
            "provider": provider,
            "kind": kind,
            "external_id": item.external_id,
            "sync_name": name,
            "payload": payload,
            "content_hash": _hash(payload),
            "source_updated_at": item.updated_at,
        }
        for item in page.items
        for payload in [redact_json(item.payload)]
    ]
    high_water = max(filter(None, [claim.high_water, page.high_water]), default=None)
    with transaction() as conn:
        written = conn.execute(_UPSERT, {"rows": rows}).scalars().all() if rows else []
        inserted = sum(1 for flag in written if flag)
        counts = {
            "pages": claim.counts["pages"] + 1,
            "inserted": claim.counts["inserted"] + inserted,
            "updated": claim.counts["updated"] + len(written) - inserted,
            "unchanged": claim.counts["unchanged"] + len(rows) - len(written),
        }
        if page.next_token is None:
            values = {"cursor": high_water, "counts": counts}
            owned = conn.execute(_FINISH, {**holder, **values}).rowcount
        else:
            checkpoint = {"since": claim.since, "token": page.next_token,
                          "high_water": high_water, "counts": counts,
                          "full_run": claim.full_run}  # fmt: skip
            values = {"lease": lease, "checkpoint": checkpoint}
            owned = conn.execute(_RENEW, {**holder, **values}).rowcount
        if not owned:  # rolls the page back: the run holding the sync writes it
            raise LeaseLost(f"sync {name!r} is held by another run now")
    claim.token, claim.high_water, claim.counts = page.next_token, high_water, counts


def record_failure(name: str, run_id: str, execution: int, error: dict[str, Any]) -> int:
    """A failed attempt: counted, its error kept, the lease let go (a retry re-claims;
    the checkpoint stays, so it resumes). Returns the failures in a row."""
    with transaction(atomic=False) as conn:
        return (
            conn.execute(
                update(STATE)
                .where(
                    STATE.c.name == name,
                    STATE.c.run_id == run_id,
                    STATE.c.execution == execution,
                )
                .values(
                    consecutive_failures=STATE.c.consecutive_failures + 1,
                    last_error=redact_json(error),
                    last_outcome="failed",
                    last_finished_at=text("now()"),
                    run_id=None,
                    execution=None,
                    lease_until=None,
                )
                .returning(STATE.c.consecutive_failures)
            ).scalar()
            or 0
        )


def record_definitions(definitions: dict[str, dict[str, Any]]) -> None:
    """Keep each sync's definition (name → kind, target, every/cron, fields, who
    recorded it) in its row, a row made for a sync never run yet: a shell without
    this configuration can still list and describe it (`fleet syncs`)."""
    if not definitions:
        return
    rows = [
        {"name": name, "kind": d["kind"], "target": d["target"], "definition": redact_json(d)}
        for name, d in definitions.items()
    ]
    insert = pg_insert(STATE).values(rows)
    excluded = insert.excluded
    with transaction() as conn:
        conn.execute(
            insert.on_conflict_do_update(
                index_elements=["name"],
                set_={"kind": excluded.kind, "target": excluded.target,
                      "definition": excluded.definition, "updated_at": text("now()")},
            )
        )  # fmt: skip


def states() -> list[dict[str, Any]]:
    with transaction(atomic=False) as conn:
        return [dict(r) for r in conn.execute(select(STATE).order_by(STATE.c.name)).mappings()]


def items(name: str, limit: int = 20) -> list[dict[str, Any]]:
    query = (
        select(ITEMS)
        .where(ITEMS.c.sync_name == name)
        .order_by(ITEMS.c.last_seen.desc(), ITEMS.c.id.desc())
        .limit(limit)
    )
    with transaction(atomic=False) as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def _hash(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()

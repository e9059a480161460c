"""Declaring sync kinds: what a provider module says about reading "changed since".

A sync kind is a ``fetch(client, config, since, token) -> Page`` function
plus the model of its configuration fields (the annotation of ``config``),
declared with ``@sync_kind(provider, "<provider>.issues", ...)`` next to the
provider's tools. The machinery (worker.syncs.runner) does everything else:
locking, paging, pacing through the governor, upserts, checkpoints.

- ``since`` is where this run reads from: the last cursor moved back by the
  lookback window (``None`` on a first or ``--full`` run);
- ``token`` is the kind's own marker of the next page within the run
  (``None`` for the first page); a page with ``next_token=None`` is the last;
- ``Page.high_water`` is the newest change the page saw, in the kind's cursor
  format; the run's highest becomes the sync's cursor when the run ends.

Cursors are strings whose order is their value: ISO-8601 UTC timestamps or
``ts`` values (unix seconds with six decimals, ``"1700000000.000100"``).
:func:`rewind_iso` and :func:`rewind_ts` move one back by the lookback window.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from worker.runtime.catalog import Provider, load_providers
from worker.runtime.params import parameter_model


@dataclass(frozen=True)
class Item:
    """One provider object as a sync stores it."""

    external_id: str
    updated_at: str | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class Page:
    items: list[Item]
    next_token: Any | None
    high_water: str | None = None


Fetch = Callable[[Any, Any, str | None, Any | None], Page]


@dataclass(frozen=True)
class SyncKind:
    """Everything known about one kind of sync."""

    name: str
    provider: Provider
    fetch: Fetch
    config_model: type[BaseModel]
    rewind: Callable[[str, float], str]
    target: Callable[[Any], str]
    scopes: tuple[str, ...] = ()
    description: str = ""


_KINDS: dict[str, SyncKind] = {}


def sync_kind(
    provider: Provider,
    name: str,
    *,
    scopes: tuple[str, ...] | list[str],
    rewind: Callable[[str, float], str],
    target: Callable[[Any], str],
) -> Callable[[Fetch], Fetch]:
    """Declare ``fetch`` as the sync kind ``name`` of ``provider``."""

    def register(fetch: Fetch) -> Fetch:
        config = parameter_model(fetch, 1, "the config")
        if name in _KINDS:
            raise ValueError(f"sync kind {name!r} declared twice")
        _KINDS[name] = SyncKind(
            name=name,
            provider=provider,
            fetch=fetch,
            config_model=config,
            rewind=rewind,
            target=target,
            scopes=tuple(scopes),
            description=inspect.cleandoc(fetch.__doc__ or name),
        )
        return fetch

    return register


def sync_kinds() -> Mapping[str, SyncKind]:
    """Every declared sync kind, by name (imports the provider modules on first use)."""
    load_providers()
    return _KINDS


def rewind_iso(cursor: str, seconds: float) -> str:
    """An ISO-8601 cursor moved ``seconds`` back (UTC, second precision, ``Z``)."""
    moment = datetime.fromisoformat(cursor.replace("Z", "+00:00")) - timedelta(seconds=seconds)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rewind_ts(cursor: str, seconds: float) -> str:
    """A ``ts`` cursor (unix seconds, six decimals) moved ``seconds`` back."""
    return f"{Decimal(cursor) - Decimal(str(seconds)):.6f}"

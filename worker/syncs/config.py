"""The syncs an operator configured, validated once at start.

``FLEET_SYNCS`` holds a JSON list, or ``FLEET_SYNCS_FILE`` names a YAML or
JSON file holding the same list. Each entry::

    {"name": "hello-issues", "kind": "<provider>.issues", "every": 300, "repo": "octo/hello"}

``name`` (unique), ``kind`` (a declared sync kind), exactly one of ``every``
(seconds) or ``cron`` (five fields, ``"*/15 * * * *"``), and the kind's own
fields, checked against its config model (unknown fields refused). A bad
entry raises :class:`SyncConfigError` naming the entry and the field, so
every process that loads the app refuses to start with it.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celery.schedules import crontab
from pydantic import BaseModel, ValidationError

from worker.settings import Settings
from worker.syncs.kinds import SyncKind, sync_kinds

COMMON_FIELDS = ("name", "kind", "every", "cron")


class SyncConfigError(ValueError):
    """A configured sync is invalid; the message names the entry and the field."""


@dataclass(frozen=True)
class SyncEntry:
    name: str
    kind: SyncKind
    config: BaseModel
    every: float | None = None
    cron: str | None = None

    @property
    def target(self) -> str:
        return self.kind.target(self.config)

    @property
    def task(self) -> str:
        """The Celery task that runs this sync (routed to the ``syncs`` queue)."""
        return f"sync.{self.kind.name}"

    def schedule(self) -> float | crontab:
        return schedule_of(self.every, self.cron)

    def definition(self) -> dict[str, Any]:
        """What a process without this configuration needs to describe the sync
        (beat records it in the ledger: see beat_schedule)."""
        return {
            "kind": self.kind.name,
            "target": self.target,
            "every": self.every,
            "cron": self.cron,
            "fields": self.config.model_dump(mode="json"),
        }


def schedule_of(every: float | None, cron: str | None) -> float | crontab:
    """Beat's schedule for ``every`` seconds or a five-field ``cron`` (one of them)."""
    return float(every) if every is not None else _crontab(str(cron))


def load_entries(settings: Settings) -> dict[str, SyncEntry]:
    """The configured syncs by name (none configured: an empty dict)."""
    raw = _raw_entries(settings)
    if not isinstance(raw, list):
        raise SyncConfigError("the syncs configuration must be a list of entries")
    entries: dict[str, SyncEntry] = {}
    for position, item in enumerate(raw, start=1):
        entry = _entry(item, position, sync_kinds())
        if entry.name in entries:
            raise SyncConfigError(f"sync {entry.name!r} (entry {position}): name used twice")
        entries[entry.name] = entry
    return entries


def _raw_entries(settings: Settings) -> Any:
    if settings.syncs_file:
        path = Path(settings.syncs_file)
        try:
            text = path.read_text()
        except OSError as exc:
            raise SyncConfigError(f"FLEET_SYNCS_FILE {path}: {exc.strerror}") from None
        if path.suffix in (".yaml", ".yml"):
            import yaml

            try:
                return yaml.safe_load(text) or []
            except yaml.YAMLError as exc:
                raise SyncConfigError(f"FLEET_SYNCS_FILE {path}: not YAML: {exc}") from None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise SyncConfigError(f"FLEET_SYNCS_FILE {path}: not JSON: {exc}") from None
    return settings.syncs


def _entry(item: Any, position: int, kinds: dict[str, SyncKind] | Any) -> SyncEntry:
    where = f"entry {position}"
    if not isinstance(item, dict):
        raise SyncConfigError(f"{where}: must be an object, not {type(item).__name__}")
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SyncConfigError(f"{where}: name: a non-empty string is required")
    where = f"sync {name!r} ({where})"
    kind = kinds.get(item.get("kind"))
    if kind is None:
        close = difflib.get_close_matches(str(item.get("kind")), list(kinds), n=2)
        hint = f"; did you mean {', '.join(close)}?" if close else f" (kinds: {', '.join(kinds)})"
        raise SyncConfigError(f"{where}: kind: unknown kind {item.get('kind')!r}{hint}")
    every, cron = item.get("every"), item.get("cron")
    if (every is None) == (cron is None):
        raise SyncConfigError(f"{where}: every/cron: give exactly one of them")
    if every is not None and (
        isinstance(every, bool) or not isinstance(every, int | float) or every <= 0
    ):
        raise SyncConfigError(f"{where}: every: a positive number of seconds is required")
    if cron is not None:
        try:
            _crontab(str(cron))
        except (TypeError, ValueError) as exc:
            raise SyncConfigError(f"{where}: cron: {exc}") from None
    fields = {k: v for k, v in item.items() if k not in COMMON_FIELDS}
    try:
        config = kind.config_model.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in first["loc"]) or "fields"
        raise SyncConfigError(f"{where}: {field}: {first['msg']}") from None
    return SyncEntry(
        name=name, kind=kind, config=config, every=float(every) if every else None, cron=cron
    )


def _crontab(expression: str) -> crontab:
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"{expression!r} is not five fields (minute hour day month weekday)")
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    return crontab(minute, hour, day_of_week, day_of_month, month_of_year)

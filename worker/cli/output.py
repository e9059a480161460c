"""Output helpers shared by the ``fleet`` commands: tables for people, JSON for programs."""

from __future__ import annotations

import json
from typing import Any, NoReturn

import click


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    if not rows:
        click.echo("(none)")
        return
    from tabulate import tabulate  # ~50 ms: only for the commands that print tables

    click.echo(tabulate([[_cell(r.get(c)) for c in columns] for r in rows], headers=columns))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:59] + "…"


def fail(message: str) -> NoReturn:
    """Exit with ``message`` (click prints it as ``Error: ...``, exit code 1)."""
    raise click.ClickException(message)

"""Waiting on what the fleet does: polling, a run's final ledger row, tool calls that
must succeed or die, a run's dead letters."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from worker import ledger


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 20.0,
    interval: float = 0.1,
    what: str = "condition",
) -> Any:
    """Poll until ``predicate()`` is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_final(run_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """The run's ledger row once it is final (succeeded, dead or lost)."""
    return wait_for(
        lambda: (row := ledger.get_run(run_id)) and row["status"] in ledger.FINAL_STATUSES and row,
        timeout,
        what=f"run {run_id} to finish",
    )


def call_tool(client: Any, tool: str, params: dict[str, Any], timeout: float = 20) -> dict:
    """Call a tool through the worker and wait for its result."""
    return client.call(tool, params).get(timeout=timeout)


def call_dead(client: Any, tool: str, params: dict[str, Any], error: type) -> dict[str, Any]:
    """Call a tool that must fail with ``error``; its ledger row, dead with a letter."""
    run = client.call(tool, params)
    with pytest.raises(error):
        run.get(timeout=20)
    row = wait_final(run.id)
    assert row["status"] == "dead"
    assert letters_of(run.id)
    return row


def letters_of(run_id: str) -> list[dict[str, Any]]:
    """Dead letters (any state) of one run."""
    return [letter for letter in ledger.list_letters(limit=1000) if letter["run_id"] == run_id]

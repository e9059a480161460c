"""Following a run while its caller waits for the result: the run's ledger row says what
is happening, and each change of it is told — on stderr by ``fleet call --wait``, as
progress notifications by the MCP server."""

from __future__ import annotations

from collections.abc import Callable

from worker import ledger
from worker.ledger import history


def news(run_id: str, status: str, told: str, tell: Callable[[str], None]) -> tuple[str, str]:
    """Read the run's row and ``tell`` its state in words if it changed since ``told``;
    returns (status, state) now, unchanged while the row cannot be read."""
    try:
        row = ledger.get_run(run_id)
    except ledger.LedgerUnavailable:
        return status, told  # the ledger is away: the result can still arrive
    if row is None:
        return status, told
    line, state = history.describe(row)
    if state != told:
        tell(line)
    return row["status"], state

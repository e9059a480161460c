"""Chaos: publishing while the broker is down. `fleet call` fails within seconds with
one clear line naming the broker (password masked), and no `queued` row is written
for a message that was never published."""

from __future__ import annotations

import time
import uuid

from tests.support import fleet_cli, free_port
from worker import ledger


def test_call_with_the_broker_down_fails_in_seconds_naming_it_and_records_nothing(ledger_db):
    agent = f"agent-{uuid.uuid4()}"
    broker = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    started = time.monotonic()

    done = fleet_cli("call", "fleet.echo", "{}", "--agent-task-id", agent,
                     env={"FLEET_BROKER_URL": broker}, check=False)  # fmt: skip

    assert done.returncode == 1
    assert time.monotonic() - started < 10
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"Error: cannot reach the broker {broker.replace('hunter2', '**')}")
    assert "hunter2" not in done.stderr and "Traceback" not in done.stderr
    assert not [r for r in ledger.list_runs(limit=1000) if r["agent_task_id"] == agent]

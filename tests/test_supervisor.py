"""The `fleet up` supervisor stops its children stage by stage: a later stage gets its
SIGTERM only once every child of the earlier one has exited (or been killed after
the grace period). Real child processes note when they were told to stop and when
they exited."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from tests.support import wait_for
from worker.cli.supervisor import ProcessSpec, Supervisor

# A child that notes "up", then on SIGTERM notes "term", lingers (a worker finishing
# its running task) and notes "exit"; with a negative linger it ignores SIGTERM.
CHILD = """
import signal, sys, time
record, name, linger = sys.argv[1], sys.argv[2], float(sys.argv[3])
def note(event):
    with open(record, "a") as f:
        f.write(f"{time.time()} {name} {event}\\n")
def on_term(*_):
    note("term")
    time.sleep(linger)
    note("exit")
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term if linger >= 0 else signal.SIG_IGN)
note("up")
while True:
    time.sleep(1)
"""


def child(record: Path, name: str, linger: float, stage: int) -> ProcessSpec:
    argv = [sys.executable, "-c", CHILD, str(record), name, str(linger)]
    return ProcessSpec(name, argv, stop_stage=stage)


def notes(record: Path) -> dict[tuple[str, str], float]:
    """(name, event) → when it happened."""
    found = {}
    for line in record.read_text().splitlines():
        at, name, event = line.split()
        found[name, event] = float(at)
    return found


def run_until_up_then_stop(supervisor: Supervisor, record: Path) -> int:
    """Run ``supervisor`` (in this, the main thread); once every child is up, stop it."""

    def stop_when_up() -> None:
        everyone = len(supervisor.specs)
        wait_for(
            lambda: record.exists() and record.read_text().count(" up\n") == everyone,
            20,
            what="every child up",
        )
        supervisor.stop()

    threading.Thread(target=stop_when_up, daemon=True).start()
    return supervisor.run()


def test_a_later_stage_is_stopped_only_after_the_earlier_one_has_exited(tmp_path):
    record = tmp_path / "record"
    specs = [
        child(record, "service-a", 0, stage=1),  # started first, stopped last
        child(record, "worker-1", 0.6, stage=0),
        child(record, "worker-2", 0.3, stage=0),
        child(record, "service-b", 0, stage=1),
    ]

    code = run_until_up_then_stop(Supervisor(specs, grace_seconds=10), record)

    seen = notes(record)
    assert code == 0
    workers_done = max(seen["worker-1", "exit"], seen["worker-2", "exit"])
    for service in ("service-a", "service-b"):
        assert seen[service, "term"] >= workers_done, seen
        assert (service, "exit") in seen
    # Within a stage, every child is told at once (the grace period is shared).
    assert seen["worker-2", "term"] < seen["worker-1", "exit"]


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace_period_then_the_rest_stop(
    tmp_path, capsys
):
    record = tmp_path / "record"
    specs = [child(record, "stubborn", -1, stage=0), child(record, "service", 0, stage=1)]
    supervisor = Supervisor(specs, grace_seconds=1)
    started = time.time()

    code = run_until_up_then_stop(supervisor, record)

    seen = notes(record)
    assert code == 0
    assert supervisor.children["stubborn"].returncode == -9
    assert ("stubborn", "exit") not in seen
    assert seen["service", "term"] - started >= 1
    assert "stubborn did not stop in 1s; killing it" in capsys.readouterr().out

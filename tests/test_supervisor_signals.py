"""The `fleet up` supervisor, run as a process of its own, however it ends: SIGKILLed,
its children follow it within seconds (nothing left holding the fleet's ports);
SIGHUP (or its terminal hanging up) stops the fleet as Ctrl-C does; and stdout lost
mid-run (`fleet up | tee log` with `tee` killed) does not stop the staged stop.

The test holds a pidfd of each child (its pid noted by the child itself, or read
from the supervisor's /proc entry): it watches and, at the end, kills only the
processes it started, never any other of the machine's."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support import REPO, free_port, wait_for

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

# A child: notes "up", prints a tick every 50 ms until SIGTERM, then notes "term",
# prints BURST bytes (a worker's last log lines: more than a pipe holds, so it
# blocks unless the supervisor still reads) and notes "exit". Like the fleet's
# programs, which log, it carries on when its stdout is gone.
CHILD = """
import os, signal, sys, time
record, name, burst = sys.argv[1], sys.argv[2], int(sys.argv[3])
def note(event):
    with open(record, "a") as f:
        f.write(f"{time.time()} {name} {event} {os.getpid()}\\n")
def say(text):
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError:
        pass
stopping = []
signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
note("up")
while not stopping:
    say(f"{name} tick\\n")
    time.sleep(0.05)
note("term")
say(("x" * 99 + "\\n") * (burst // 100))
note("exit")
"""
# The supervisor as `fleet up` runs it; with TEST_TTY, on that terminal, which it
# then controls (it is a session leader), as `fleet up` in a terminal window.
SUPERVISOR = """
import json, os, sys
tty = os.environ.pop("TEST_TTY", None)
if tty:
    fd = os.open(tty, os.O_RDWR)
    for n in (0, 1, 2):
        os.dup2(fd, n)
from worker.cli.supervisor import ProcessSpec, Supervisor
specs = [ProcessSpec(**spec) for spec in json.loads(sys.argv[1])]
sys.exit(Supervisor(specs, grace_seconds=float(sys.argv[2])).run())
"""
BURST = 1 << 20
GRACE = 10.0


@dataclass
class Run:
    """A supervisor process with two workers (stage 0) and two services (stage 1)."""

    proc: subprocess.Popen[bytes]
    record: Path
    stderr: Path
    pidfds: dict[str, int] = field(default_factory=dict)

    def notes(self) -> dict[tuple[str, str], float]:
        """(name, event) → when it happened."""
        found = {}
        for line in self.record.read_text().splitlines():
            at, name, event, _ = line.split()
            found[name, event] = float(at)
        return found

    def wait_up(self) -> None:
        """Wait for every child to be up, and take a pidfd of each (while it runs, so
        the pid cannot be another process's)."""
        wait_for(
            lambda: self.record.exists() and self.record.read_text().count(" up ") == 4,
            20,
            what="every child up",
        )
        for line in self.record.read_text().splitlines():
            _, name, event, pid = line.split()
            if event == "up":
                self.pidfds[name] = os.pidfd_open(int(pid))

    def running(self, within: float) -> list[str]:
        """The children still running after waiting up to ``within`` seconds."""
        deadline = time.monotonic() + within
        alive = dict(self.pidfds)
        while alive and time.monotonic() < deadline:
            ready, _, _ = select.select(list(alive.values()), [], [], 0.1)
            alive = {name: fd for name, fd in alive.items() if fd not in ready}
        return sorted(alive)

    def assert_stopped_in_order(self) -> None:
        seen = self.notes()
        for name in ("worker-1", "worker-2", "service-1", "service-2"):
            assert (name, "exit") in seen, (name, seen)
        workers_done = max(seen["worker-1", "exit"], seen["worker-2", "exit"])
        assert min(seen["service-1", "term"], seen["service-2", "term"]) >= workers_done, seen
        assert self.running(5) == []


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Run]]:
    """Start a supervisor (stdout and extra Popen arguments as given); afterwards kill
    whatever of it is left: the supervisor and the children it started."""
    runs: list[Run] = []

    def start(**popen: object) -> Run:
        record, stderr = tmp_path / "record", tmp_path / "stderr"

        def spec(name: str, stage: int, burst: int) -> dict[str, object]:
            argv = [sys.executable, "-c", CHILD, str(record), name, str(burst)]
            return {"name": name, "argv": argv, "stop_stage": stage}

        specs = [
            spec("service-1", 1, 0),  # started first, stopped last
            spec("worker-1", 0, BURST),
            spec("worker-2", 0, BURST),
            spec("service-2", 1, 0),
        ]
        argv = [sys.executable, "-c", SUPERVISOR, json.dumps(specs), str(GRACE)]
        with stderr.open("wb") as err:
            proc = subprocess.Popen(argv, cwd=REPO, stderr=err, **popen)  # type: ignore[call-overload]
        runs.append(Run(proc, record, stderr))
        return runs[-1]

    yield start
    for run in runs:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait(10)
        for fd in run.pidfds.values():
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(fd, signal.SIGKILL)
            os.close(fd)


def test_children_follow_a_supervisor_killed_with_sigkill(start, tmp_path):
    with (tmp_path / "out").open("wb") as out:
        run = start(stdout=out)
    run.wait_up()

    run.proc.kill()

    assert run.proc.wait(10) == -signal.SIGKILL
    assert run.running(5) == []
    seen = run.notes()  # told with SIGTERM, so each stopped as at Ctrl-C
    assert all((name, "exit") in seen for name in run.pidfds), seen


@pytest.mark.parametrize("how", ["kill -HUP", "terminal closed"])
def test_sighup_stops_the_fleet_in_order_as_ctrl_c_does(start, tmp_path, how):
    if how == "kill -HUP":
        with (tmp_path / "out").open("wb") as out:
            run = start(stdout=out)
    else:
        terminal, tty = pty.openpty()
        output: list[bytes] = []

        def read() -> None:  # as a terminal window shows it, until it is closed
            try:
                while chunk := os.read(terminal, 65536):
                    output.append(chunk)
            except OSError:
                pass

        run = start(
            stdin=tty, stdout=tty, env={**os.environ, "TEST_TTY": os.ttyname(tty)},
            start_new_session=True,
        )  # fmt: skip
        os.close(tty)
        threading.Thread(target=read, daemon=True).start()
    run.wait_up()

    if how == "kill -HUP":
        run.proc.send_signal(signal.SIGHUP)
    else:
        wait_for(lambda: b"tick" in b"".join(output), 10, what="output on the terminal")
        os.close(terminal)  # the kernel hangs the terminal up: SIGHUP, then EIO on writes

    assert run.proc.wait(30) == 0, run.stderr.read_text()
    run.assert_stopped_in_order()
    if how == "kill -HUP":
        out = (tmp_path / "out").read_text()
        assert "fleet     | stopping (waiting for running tasks to finish)...\n" in out
        assert "fleet     | SIGTERM to worker-1, worker-2; waiting up to 10s\n" in out


def test_stdout_closed_by_its_reader_mid_run_does_not_stop_the_staged_stop(start):
    run = start(stdout=subprocess.PIPE)
    run.wait_up()
    assert run.proc.stdout is not None
    assert b"tick" in run.proc.stdout.readline()
    run.proc.stdout.close()  # `tee` is gone: the supervisor's next write gets EPIPE
    time.sleep(0.3)  # children print on meanwhile

    started = time.monotonic()
    run.proc.send_signal(signal.SIGINT)

    assert run.proc.wait(30) == 0, run.stderr.read_text()
    # Every child exited of itself, the workers' last megabyte of output read to the end.
    run.assert_stopped_in_order()
    assert time.monotonic() - started < GRACE
    stderr = run.stderr.read_text()
    assert "Traceback" not in stderr, stderr
    # The operator still sees the stop on stderr, the terminal.
    assert "fleet     | SIGTERM to worker-1, worker-2; waiting up to 10s\n" in stderr
    assert "fleet     | SIGTERM to service-1, service-2; waiting up to 10s\n" in stderr


@pytest.mark.slow
def test_a_real_fleet_up_killed_with_sigkill_leaves_no_process_and_no_port_behind(
    ledger_db, tmp_path
):
    from tests.test_fleet_up import PORT_SETTINGS, PROVIDER_VARS
    from worker.cli.up import Listener, port_problems
    from worker.queues import QUEUES

    ports = {name: free_port() for name in PORT_SETTINGS}
    listeners = [Listener(n, "127.0.0.1", port, PORT_SETTINGS[n]) for n, port in ports.items()]
    env = {k: v for k, v in os.environ.items() if k not in PROVIDER_VARS}
    env.update({PORT_SETTINGS[name]: str(port) for name, port in ports.items()})
    env.update(HOME=str(tmp_path), TMPDIR=str(tmp_path))
    fleet = [sys.executable, "-m", "worker.cli", "up", "--concurrency", "2"]
    with (tmp_path / "out").open("wb") as out:
        proc = subprocess.Popen(fleet, cwd=tmp_path, env=env, stdout=out, stderr=out)
    pidfds: list[int] = []
    try:
        wait_for(
            lambda: (tmp_path / "out").read_text().count(" ready.") == len(QUEUES),
            90,
            what="a ready worker per queue",
        )
        wait_for(lambda: len(port_problems(listeners)) == 4, 30, what="every port listened on")
        children = [int(pid) for task in Path(f"/proc/{proc.pid}/task").iterdir()
                    for pid in (task / "children").read_text().split()]  # fmt: skip
        pidfds += [os.pidfd_open(pid) for pid in children]
        assert len(pidfds) == len(QUEUES) + 5  # beat, Flower, metrics, MCP, the simulator

        proc.kill()

        assert proc.wait(10) == -signal.SIGKILL
        deadline = time.monotonic() + 30
        alive = list(pidfds)
        while alive and time.monotonic() < deadline:
            ready, _, _ = select.select(alive, [], [], 0.2)
            alive = [fd for fd in alive if fd not in ready]
        assert alive == [], (tmp_path / "out").read_text()[-3000:]
        # The next `fleet up` can listen where this one did.
        assert port_problems(listeners) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for fd in pidfds:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(fd, signal.SIGKILL)
            os.close(fd)


def test_a_child_whose_stop_hangs_ends_itself_once_its_supervisor_is_gone(tmp_path):
    # A stand-in supervisor starts a child that ignores SIGTERM (a graceful stop that
    # hangs); the supervisor is then killed outright. The child's orphan watch ends it.
    child_code = (
        "import signal, time\n"
        "from worker.cli import supervisor\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "supervisor.ORPHAN_GRACE_SECONDS = 1.0\n"
        "supervisor.orphan_watch()\n"
        "print('watching', flush=True)\n"
        "time.sleep(120)\n"
    )
    parent_code = (
        "import os, subprocess, sys, time\n"
        f"env = {{**os.environ, 'FLEET_SUPERVISOR_PID': str(os.getpid())}}\n"
        f"child = subprocess.Popen([sys.executable, '-c', {child_code!r}], env=env)\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", parent_code], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    child_pid = int(parent.stdout.readline())
    pidfd = os.pidfd_open(child_pid)
    time.sleep(1.0)  # the child is watching (it printed so, to the same pipe)
    try:
        parent.kill()
        parent.wait(5)
        started = time.monotonic()
        ready, _, _ = select.select([pidfd], [], [], 10)
        assert ready == [pidfd], "the orphaned child still runs"
        assert time.monotonic() - started >= 0.9  # it waited its grace first
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child_pid, signal.SIGKILL)
        os.close(pidfd)

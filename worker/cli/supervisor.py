"""`fleet up`: run several fleet processes in the foreground as one.

Each child runs in its own session (so the terminal's Ctrl-C reaches only
the supervisor) and its output is prefixed with its name. Stopping goes
stage by stage, lowest ``stop_stage`` first: SIGTERM to every child of the
stage (for a Celery worker a warm shutdown: running tasks finish, unstarted
ones stay in the broker), a wait of up to the grace period, SIGKILL for any
still alive, and only then the next stage. So the processes the running
tasks depend on (the provider simulator, say) outlive the workers. If one
child dies on its own, the rest are stopped the same way and the supervisor
exits non-zero: a half-running fleet is worse than none.

SIGINT, SIGTERM and SIGHUP (the terminal closed, an SSH session dropped) all
start that orderly stop. The children never outlive the supervisor, however it
ends: on Linux each is started through a guard that asks the kernel
(``PR_SET_PDEATHSIG``) to send it SIGTERM when the supervisor dies, even by
SIGKILL, so a lost ``fleet up`` never leaves workers behind or ports taken.
SIGTERM rather than SIGKILL: each child then stops as it would at Ctrl-C (a
worker warm-shuts down, the servers close their ports), only all at once
instead of stage by stage. None of the fleet's programs forks children of its
own, except a Celery prefork pool, whose processes Celery already ties to
their worker the same way. Losing stdout (``fleet up | tee log`` with ``tee``
gone: EPIPE; a hung-up terminal: EIO) never stops the supervisor: it stops
writing, keeps reading the children's output so none of them blocks on a full
pipe, and carries on with the stop.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType
from typing import IO

# prctl(2) option: the signal the kernel sends a process when its parent dies.
PR_SET_PDEATHSIG = 1
# Run in the child before the command: it keeps its pid (exec, no extra process),
# and the death signal survives exec. The kernel sends it when the *thread* that
# forked the child ends, so children are started from the main thread (the only
# one that can run the supervisor: it installs signal handlers). If the
# supervisor died before the guard was set, the command is not started at all.
_DEATH_GUARD = f"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl({PR_SET_PDEATHSIG}, ctypes.c_ulong({int(signal.SIGTERM)}), 0, 0, 0) != 0:
    raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
if os.getppid() != int(sys.argv[1]):
    sys.exit(1)
os.execvp(sys.argv[2], sys.argv[2:])
"""
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# Set in each child's environment: the supervisor's pid (see orphan_watch).
SUPERVISOR_ENV = "FLEET_SUPERVISOR_PID"
# A child whose supervisor died stops gracefully on its death signal; one still
# running this long after (a shutdown that hangs) ends itself.
ORPHAN_GRACE_SECONDS = 15.0


def orphan_watch() -> None:
    """In a child of ``fleet up``: end this process if it outlives its supervisor by
    :data:`ORPHAN_GRACE_SECONDS` (the death signal asked it to stop; a graceful stop
    that hangs must not keep a port or a queue's messages). No-op elsewhere."""
    supervisor = os.environ.get(SUPERVISOR_ENV)
    if not supervisor or not supervisor.isdigit():
        return

    def watch() -> None:
        while os.getppid() == int(supervisor):
            time.sleep(0.5)
        time.sleep(ORPHAN_GRACE_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


@dataclass(frozen=True)
class ProcessSpec:
    """One child: its name (the output prefix), its command line, extra environment,
    and its stop stage (lower stages are stopped, and waited for, first)."""

    name: str
    argv: list[str]
    env: dict[str, str] | None = None
    stop_stage: int = 0


class Supervisor:
    def __init__(self, specs: Sequence[ProcessSpec], *, grace_seconds: float = 30.0) -> None:
        self.specs = list(specs)
        self.grace_seconds = grace_seconds
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self._stopping = threading.Event()
        self._width = max(len(s.name) for s in self.specs)
        self._stdout_lost = self._stderr_lost = False

    def run(self) -> int:
        """Start everything, wait for a signal or a death, stop everything."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in STOP_SIGNALS}
        # A write to a closed pipe raises (BrokenPipeError) rather than kills the
        # supervisor mid-stop; Python ignores SIGPIPE at start, this makes it certain.
        previous[signal.SIGPIPE] = signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        try:
            for spec in self.specs:
                self._start(spec)
            return self._wait()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def stop(self) -> None:
        """Stop the fleet, as SIGINT, SIGTERM or SIGHUP to the supervisor does (thread-safe)."""
        self._stopping.set()

    def _start(self, spec: ProcessSpec) -> None:
        argv = spec.argv
        if sys.platform.startswith("linux"):
            argv = [sys.executable, "-I", "-S", "-c", _DEATH_GUARD, str(os.getpid()), *argv]
        child = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(spec.env or {}), SUPERVISOR_ENV: str(os.getpid())},
            start_new_session=True,
        )
        self.children[spec.name] = child
        assert child.stdout is not None
        threading.Thread(target=self._pump, args=(spec.name, child.stdout), daemon=True).start()

    def _pump(self, name: str, stream: IO[bytes]) -> None:
        prefix = f"{name:<{self._width}} | "
        for line in iter(stream.readline, b""):  # to the end, even once stdout is lost
            self._write(prefix + line.decode("utf-8", "replace"))

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop()

    def _wait(self) -> int:
        while not self._stopping.wait(0.5):
            for name, child in self.children.items():
                code = child.poll()
                if code is not None:
                    self._say(f"{name} exited with code {code}; stopping the fleet")
                    return code or 1
        self._say("stopping (waiting for running tasks to finish)...")
        return 0

    def _stop_all(self) -> None:
        for stage in sorted({spec.stop_stage for spec in self.specs}):
            names = [
                s.name for s in self.specs if s.stop_stage == stage and s.name in self.children
            ]
            alive = [name for name in names if self.children[name].poll() is None]
            if alive:
                self._say(f"SIGTERM to {', '.join(alive)}; waiting up to {self.grace_seconds:g}s")
                self._stop(alive)

    def _stop(self, names: list[str]) -> None:
        """SIGTERM ``names``, wait for them up to the grace period, SIGKILL the rest."""
        for name in names:
            self.children[name].send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace_seconds
        for name in names:
            child = self.children[name]
            try:
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._say(f"{name} did not stop in {self.grace_seconds:g}s; killing it")
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()

    def _say(self, message: str) -> None:
        """Tell the operator; on stderr once stdout is lost (`| tee` gone, say)."""
        line = f"{'fleet':<{self._width}} | {message}\n"
        if not self._write(line) and not self._stderr_lost:
            self._stderr_lost = not _write_to(sys.stderr, line)

    def _write(self, text: str) -> bool:
        """Write ``text`` to stdout; False, and nothing written, once stdout is lost."""
        if not self._stdout_lost:
            self._stdout_lost = not _write_to(sys.stdout, text)
        return not self._stdout_lost


def _write_to(stream: IO[str], text: str) -> bool:
    """Write and flush ``text``; False if ``stream`` is gone (EPIPE: its reader exited;
    EIO: the terminal hung up; closed). A lost stream's descriptor is pointed at
    /dev/null, so that nothing written there later fails, not even the interpreter's
    last flush of what it still holds (a failed one would make the exit status 120)."""
    try:
        stream.write(text)
        stream.flush()
        return True
    except (OSError, ValueError):  # ValueError: the stream was closed
        pass
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # a stream without a descriptor (a test's capture)
        pass
    return False

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

    def run(self) -> int:
        """Start everything, wait for a signal or a death, stop everything."""
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            for spec in self.specs:
                self._start(spec)
            return self._wait()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def stop(self) -> None:
        """Stop the fleet, as SIGINT or SIGTERM to the supervisor does (thread-safe)."""
        self._stopping.set()

    def _start(self, spec: ProcessSpec) -> None:
        child = subprocess.Popen(
            spec.argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(spec.env or {})},
            start_new_session=True,
        )
        self.children[spec.name] = child
        assert child.stdout is not None
        threading.Thread(target=self._pump, args=(spec.name, child.stdout), daemon=True).start()

    def _pump(self, name: str, stream: IO[bytes]) -> None:
        prefix = f"{name:<{self._width}} | "
        for line in iter(stream.readline, b""):
            sys.stdout.write(prefix + line.decode("utf-8", "replace"))
            sys.stdout.flush()

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
        sys.stdout.write(f"{'fleet':<{self._width}} | {message}\n")
        sys.stdout.flush()

"""`fleet up`: run several fleet processes in the foreground as one.

Each child runs in its own session (so the terminal's Ctrl-C reaches only
the supervisor), its output is prefixed with its name, and stopping is
orderly: SIGTERM to every child (a Celery warm shutdown: running tasks
finish, unstarted ones stay in the broker), then SIGKILL for any still alive
after the grace period. If one child dies on its own, the rest are stopped
and the supervisor exits non-zero: a half-running fleet is worse than none.
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
    name: str
    argv: list[str]
    env: dict[str, str] | None = None


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
        self._stopping.set()

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
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace_seconds
        for name, child in self.children.items():
            try:
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._say(f"{name} did not stop in {self.grace_seconds:g}s; killing it")
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()

    def _say(self, message: str) -> None:
        sys.stdout.write(f"{'fleet':<{self._width}} | {message}\n")
        sys.stdout.flush()

"""Processes of the fleet a test starts: a real `fleet worker`, one `fleet` command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.calls import wait_for

REPO = Path(__file__).resolve().parents[2]


class WorkerProcess:
    """A real `fleet worker` process with its own environment and log file (``module``:
    what runs ``fleet``'s arguments; tests.faults wraps the policy's steps first)."""

    def __init__(
        self,
        log_path: Path,
        env: dict[str, str],
        queues: str = "http,syncs",
        name: str = "test",
        concurrency: int = 8,
        pool: str = "threads",
        loglevel: str = "DEBUG",
        module: str = "worker.cli",
    ) -> None:
        self.log_path = log_path
        self.log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                module,
                "worker",
                "-Q",
                queues,
                "-n",
                f"{name}@%h",
                "-c",
                str(concurrency),
                "-P",
                pool,
                "-l",
                loglevel,
            ],
            cwd=REPO,
            env={**os.environ, **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"worker exited {self.proc.returncode}:\n{self.text()[-3000:]}"
                )
            return " ready." in self.text()

        wait_for(ready, timeout, what="worker ready")

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


def fleet_cli(
    *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``fleet ARGS`` in a process of its own, ``env`` over the tests' environment."""
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=check,
        cwd=REPO,
    )

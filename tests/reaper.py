"""Run a command and report the processes of its tree that outlived it.

``python tests/reaper.py REPORT -- COMMAND...`` makes itself a child subreaper
(Linux ``PR_SET_CHILD_SUBREAPER``), runs COMMAND, and forwards SIGINT and
SIGTERM to it; SIGQUIT kills it instead. When COMMAND has exited, every process
it started and left running (orphans come back to the subreaper, whatever
session they are in) is written to REPORT as JSON, then killed. The exit code
is COMMAND's. So a test sees only its own process tree, never another process
of the machine that happens to run the same program.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

PR_SET_CHILD_SUBREAPER = 36


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (every thread's)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:  # the task is gone
            continue
    return found


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, parents before their children."""
    found: list[int] = []
    todo = children(pid)
    while todo:
        child = todo.pop(0)
        found.append(child)
        todo += children(child)
    return found


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie has ended: it only waits to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def main(argv: list[str]) -> int:
    report, separator, *command = argv
    assert separator == "--" and command, __doc__
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    child = subprocess.Popen(command)

    def forward(signum: int, frame: FrameType | None) -> None:
        child.send_signal(signal.SIGKILL if signum == signal.SIGQUIT else signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
        signal.signal(sig, forward)
    code = child.wait()
    left = [pid for pid in descendants(os.getpid()) if _alive(pid)]
    Path(report).write_text(json.dumps([{"pid": pid, "cmdline": _cmdline(pid)} for pid in left]))
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
    while True:  # reap the orphans (their own orphans come back here as they die)
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

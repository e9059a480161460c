"""A total deadline for every provider call, whatever SDK makes it.

The SDKs' timeouts are per socket operation: a server (or a proxy) that
drips its answer a byte every few seconds never trips one, and holds a
worker thread, a governor slot and the run's claim for as long as it
likes. Here a call's thread is given a deadline (:func:`armed`: two
attribute writes, no lock); if the call has not returned by then, the
watchdog (one thread per process, looking every quarter of a second)
shuts down the TCP connections that thread opened to providers, which every
SDK's blocked read sees at once as a dropped connection. The policy then classifies the outcome as
``Unavailable`` (ambiguous: the request may have been served).

Which connections: a process-wide audit hook (``sys.addaudithook``, the
``socket.connect`` event) notes each socket connected by a thread while it
makes a provider call, by file descriptor and socket inode, kept while the
socket lives so that a kept-alive connection reused by the thread's next
call is covered too. The inode tells a live socket from a later one that
reused its descriptor; the shutdown goes through a duplicate of the
descriptor, so it can only ever reach the socket noted. Connections to the
fleet's own Redis and Postgres are never noted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)


TICK_SECONDS = 0.25  # how often the watchdog looks: a deadline is kept to within this


@dataclass
class Deadline:
    """One armed deadline: when it ends (monotonic), its length, whether it fired."""

    at: float
    seconds: float
    fired: bool = False


@dataclass
class _Thread:
    """One thread's armed deadline, if any, and what it has connected to providers
    (descriptor -> socket inode)."""

    armed: Deadline | None = None
    sockets: dict[int, int] = field(default_factory=dict)


_lock = threading.Lock()
_threads: dict[int, _Thread] = {}
_started_pid: int | None = None
_infrastructure_ports: frozenset[int] = frozenset()


def rearm(deadline: Deadline, seconds: float) -> None:
    """Give the same call a fresh deadline (a sync, before each page)."""
    deadline.at, deadline.seconds = time.monotonic() + seconds, seconds


@contextlib.contextmanager
def armed(seconds: float) -> Iterator[Deadline]:
    """Within the block, this thread's provider connections are cut after ``seconds``."""
    _ensure_started()
    ident = threading.get_ident()
    state = _threads.get(ident)
    if state is None:
        state = _threads.setdefault(ident, _Thread())
    _prune(state)
    deadline = state.armed = Deadline(time.monotonic() + seconds, seconds)
    try:
        yield deadline
    finally:
        state.armed = None


def _prune(state: _Thread) -> None:
    """Forget sockets that have closed since they were noted."""
    for fd, inode in list(state.sockets.items()):
        if _inode(fd) != inode:
            del state.sockets[fd]


def _inode(fd: int) -> int | None:
    try:
        return os.fstat(fd).st_ino
    except OSError:
        return None


def _on_audit(event: str, args: tuple[Any, ...]) -> None:
    if event != "socket.connect":
        return
    state = _threads.get(threading.get_ident())
    if state is None or state.armed is None:
        return
    sock, address = args
    try:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return
        if isinstance(address, tuple) and address[1] in _infrastructure_ports:
            return
        fd = sock.fileno()
        inode = _inode(fd)
    except (AttributeError, IndexError, OSError, TypeError):
        return
    if inode is not None:
        state.sockets[fd] = inode


def _watch() -> None:
    while True:
        time.sleep(TICK_SECONDS)
        now = time.monotonic()
        for state in list(_threads.values()):
            deadline = state.armed
            if deadline is None or deadline.fired or deadline.at > now:
                continue
            deadline.fired = True
            cut = sum(_cut(fd, inode) for fd, inode in list(state.sockets.items()))
            logger.warning(
                "a provider call passed its %gs deadline: %d connection(s) cut",
                deadline.seconds, cut,
            )  # fmt: skip


def _cut(fd: int, inode: int) -> bool:
    """Shut down the socket noted as (fd, inode), if it is still that socket."""
    try:
        duplicate = os.dup(fd)
    except OSError:
        return False
    try:
        if _inode(duplicate) != inode:
            return False  # closed, and the descriptor now names another file
        sock = socket.socket(fileno=duplicate)
        duplicate = -1  # the socket object owns it now
        with contextlib.closing(sock):
            sock.shutdown(socket.SHUT_RDWR)
        return True
    except OSError:
        return False
    finally:
        if duplicate >= 0:
            os.close(duplicate)


def _ensure_started() -> None:
    """The audit hook (once per interpreter) and the watchdog thread (once per process)."""
    global _started_pid, _infrastructure_ports
    if _started_pid == os.getpid():
        return
    with _lock:
        if _started_pid == os.getpid():
            return
        if _started_pid is None:
            _infrastructure_ports = _fleet_ports()
            sys.addaudithook(_on_audit)  # cannot be removed: installed once
        _threads.clear()
        threading.Thread(target=_watch, name="fleet-deadlines", daemon=True).start()
        _started_pid = os.getpid()


def _fleet_ports() -> frozenset[int]:
    """The ports of the fleet's own Redis and Postgres (their connections are never cut)."""
    from worker.settings import get_settings

    settings = get_settings()
    urls = (settings.broker_url, settings.effective_result_backend, settings.database_url)
    defaults = {"redis": 6379, "rediss": 6380, "postgresql": 5432, "postgres": 5432}
    ports = set()
    for url in urls:
        parts = urlsplit(url)
        scheme = parts.scheme.split("+", 1)[0]
        with contextlib.suppress(ValueError):
            ports.add(parts.port or defaults.get(scheme, 0))
    return frozenset(ports - {0})

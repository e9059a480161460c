"""Servers a test runs for itself: a scriptable HTTP server, a redis-server and a
PostgreSQL cluster of its own, and a TCP proxy it can cut (an outage)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.calls import wait_for


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class _QuietServer(ThreadingHTTPServer):
    """A client that went away mid-reply (a killed worker) is expected here, not news."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _SniffingServer(_QuietServer):
    """Speaks TLS to a client that opens with a handshake and plain HTTP to one that
    does not, on one port: a redirect can then change the scheme alone."""

    def __init__(self, address: Any, handler: Any, tls: ssl.SSLContext) -> None:
        self.tls = tls
        super().__init__(address, handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        if request.recv(1, socket.MSG_PEEK) == b"\x16":  # a TLS record: the ClientHello
            with self.tls.wrap_socket(request, server_side=True) as wrapped:
                super().finish_request(wrapped, client_address)
            return
        super().finish_request(request, client_address)


class ScriptedServer:
    """Answers each path with a scripted sequence of replies (the last one repeats).

    Records every request it received, so a test can assert what reached it. Given
    ``tls`` (a server context), it answers https and http on the same port.
    """

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, list[Reply | Callable[[Seen], Reply]]] = {}
        self.seen: list[Seen] = []
        self.connections = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def handle(self) -> None:
                with server._lock:
                    server.connections += 1
                super().handle()

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(
                    self.command,
                    self.path,
                    dict(self.headers.items()),
                    self.rfile.read(length),
                    time.time(),
                )
                reply = server._next(seen)
                if reply.delay:
                    time.sleep(reply.delay)
                payload = reply.body
                if not isinstance(payload, bytes):
                    payload = (json.dumps(payload) if payload is not None else "").encode()
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json", **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

        address = ("127.0.0.1", 0)
        self.httpd = (
            _SniffingServer(address, Handler, tls) if tls else _QuietServer(address, Handler)
        )
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def route(self, path: str, *replies: Reply | Callable[[Seen], Reply]) -> str:
        """Script ``path``; returns its URL on the allowed host name (localhost)."""
        with self._lock:
            self.routes[path] = list(replies)
        return self.url(path)

    def url(self, path: str, host: str = "localhost", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def _next(self, seen: Seen) -> Reply:
        with self._lock:
            self.seen.append(seen)
            path = seen.path.split("?", 1)[0]
            script = self.routes.get(path)
            if not script:
                return Reply(404, {"error": "no such route"})
            step = script.pop(0) if len(script) > 1 else script[0]
        return step(seen) if callable(step) else step

    def requests_to(self, path: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path.split("?", 1)[0] == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A redis-server of the test's own on a free port (no persistence), which the
    test may fill, flush, stop or restart without touching the shared one."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(self._answers, 10, 0.05, what=f"redis-server on port {self.port}")

    def _answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port).ping())
        except redis.ConnectionError:
            return False

    def client(self) -> Any:
        import redis

        return redis.Redis.from_url(self.url)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class TcpProxy:
    """A loopback TCP proxy that a test can cut and restore (a database outage)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0
        self._sockets: list[Any] = []
        self._lock = threading.Lock()
        self._listener: Any = None
        self.restore()

    def restore(self) -> None:
        import socket

        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Refuse new connections and break every open one."""
        import socket

        # shutdown() wakes the thread blocked in accept(); close() alone would not.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def _accept(self, listener: Any) -> None:
        import socket

        while True:
            try:
                downstream, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            with self._lock:
                self._sockets += [downstream, upstream]
            for src, dst in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: Any, dst: Any) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.close()


class PostgresServer:
    """A throw-away PostgreSQL cluster (``initdb`` in a temp dir of its own, removed by
    :meth:`close`) on a free port, which the test may stop and start without touching
    the shared one. Run as the ``postgres`` user when the tests run as root (the
    server refuses root; pytest's own temp dirs are closed to other users)."""

    def __init__(self, database: str = "toolfleet") -> None:
        import glob
        import shutil
        import tempfile

        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [shutil.which("initdb")]
        if not found[-1]:
            pytest.skip("PostgreSQL server binaries (initdb) are not installed")
        self.bin = Path(found[-1]).parent
        self.port = free_port()
        self.directory = directory = Path(tempfile.mkdtemp(prefix="toolfleet-pg-"))
        self.data = directory / "pgdata"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"
        self.as_owner: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(directory, "postgres")
            self.as_owner = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {database}")

    def dsn(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.as_owner, str(self.bin / tool), *args], check=True,
                       capture_output=True, cwd=self.directory)  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.directory / "postgres.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def close(self) -> None:
        import shutil

        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

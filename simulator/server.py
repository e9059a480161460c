"""HTTP plumbing: a threaded stdlib server routing by path prefix, plus the ``/_sim`` control API.

Each fake is served under its own prefix (:mod:`simulator.fakes`); ``/_sim/...`` controls the
simulator (faults, settings, request log, reset, health); anything else is a JSON 404. Speaks
HTTP/1.1 keep-alive like the real services, since SDK connection pools reuse sockets.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from simulator import settings
from simulator.engine import Engine
from simulator.fakes import base_urls, provider_of
from simulator.faults import Fault
from simulator.protocol import Request, Response, json_response

LOG = logging.getLogger("simulator")


def parse_body(raw: bytes, content_type: str) -> tuple[Any, str | None]:
    """Parse JSON or form bodies; returns ``(body, json_error)``."""
    if not raw:
        return None, None
    kind = content_type.split(";", maxsplit=1)[0].strip().lower()
    text = raw.decode("utf-8", "replace")
    if kind == "application/x-www-form-urlencoded":
        form = parse_qs(text, keep_blank_values=True)
        return {k: v[0] if len(v) == 1 else v for k, v in form.items()}, None
    if kind.endswith("json") or (not kind and text.lstrip()[:1] in ("{", "[")):
        try:
            return json.loads(text), None
        except ValueError as exc:
            return text, str(exc)
    return text, None


class SimHTTPServer(ThreadingHTTPServer):
    """Threaded server carrying the engine; daemon threads so shutdown never waits on clients."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], engine: Engine) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, SimHandler)
        self.engine = engine
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Cut keep-alive connections too, so a stopped simulator really stops answering."""
        with self._open_lock:
            for conn in list(self._open):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)


class SimHandler(BaseHTTPRequestHandler):
    """One connection; each request is parsed, dispatched, answered (or dropped)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out separately: avoid 40 ms ACK stalls
    server: SimHTTPServer

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("%s " + format, self.address_string(), *args)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _root(self) -> str:
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        return f"http://{host}"

    def _serve(self) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        raw = self._read_body()
        if path == "/_sim" or path.startswith("/_sim/"):
            self._send(self._control(path, parse_qs(url.query), raw))
            return
        target = provider_of(path)
        if target is None:
            self._send(json_response(404, {"message": "Not Found"}))
            return
        body, error = parse_body(raw, self.headers.get("Content-Type", ""))
        req = Request(
            method="GET" if self.command == "HEAD" else self.command,
            provider=target[0],
            path=target[1],
            query=parse_qs(url.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            raw_body=raw,
            root=self._root(),
            body_error=error,
        )
        outcome = self.server.engine.dispatch(req, path)
        if outcome.drop:
            # The write already happened; vanish without a byte so the client sees a reset.
            self.close_connection = True
            return
        self._send(outcome.response)

    def _send(self, resp: Response) -> None:
        payload = resp.encode()
        self.send_response(resp.status)
        for name, value in resp.headers.items():
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _control(self, path: str, query: dict[str, list[str]], raw: bytes) -> Response:
        engine, action = self.server.engine, (self.command, path.rstrip("/"))
        arg = {k: v[0] for k, v in query.items()}
        if action == ("GET", "/_sim/health"):
            return json_response(200, {"ok": True, **base_urls(self._root())})
        if action == ("POST", "/_sim/faults"):
            try:
                data = json.loads(raw or b"{}")
                fault = engine.add_fault(Fault.from_dict(data))
            except (ValueError, TypeError) as exc:  # FaultError is a ValueError
                return json_response(400, {"error": str(exc)})
            return json_response(201, fault.to_dict())
        if action == ("GET", "/_sim/faults"):
            with engine.lock:
                return json_response(200, [f.to_dict() for f in engine.faults.active()])
        if action == ("DELETE", "/_sim/faults"):
            with engine.lock:
                return json_response(200, {"cleared": engine.faults.clear()})
        if action == ("GET", "/_sim/requests"):
            try:
                with engine.lock:
                    found = engine.log.select(
                        arg.get("provider"), arg.get("method"), arg.get("path")
                    )
            except re.error as exc:
                return json_response(400, {"error": f"bad path regex: {exc}"})
            return json_response(200, found)
        if action == ("DELETE", "/_sim/requests"):
            with engine.lock:
                engine.log.clear()
            return json_response(200, {"ok": True})
        if action in (("GET", "/_sim/settings"), ("POST", "/_sim/settings")):
            return self._settings(engine, raw)
        if action == ("POST", "/_sim/reset"):
            engine.reset()
            return json_response(200, {"ok": True})
        return json_response(404, {"error": f"unknown control endpoint {self.command} {path}"})

    def _settings(self, engine: Engine, raw: bytes) -> Response:
        """``GET``: the runtime switches; ``POST {name: value}``: change some of them."""
        try:
            changes = json.loads(raw or b"{}") if self.command == "POST" else {}
            if not isinstance(changes, dict):
                raise settings.SettingsError("settings must be a JSON object")
            with engine.lock:
                return json_response(200, settings.apply(engine.state, changes))
        except ValueError as exc:  # SettingsError and bad JSON alike
            return json_response(400, {"error": str(exc)})

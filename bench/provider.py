"""The benchmarks' provider stand-in, in a process of its own (not sharing the GIL of
the benchmark that waits for results): ``GET /fast`` answers at once, ``GET /slow``
after ``SLOW_SECONDS``; both ``{"ok": true}``.

    python -m bench.provider PORT
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SLOW_SECONDS = 0.1
BODY = b'{"ok": true}'


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the clients expect
    # Headers and body go out in two writes: without TCP_NODELAY the second waits
    # for the client's delayed ACK (~40 ms a request).
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        if self.path == "/slow":
            time.sleep(SLOW_SECONDS)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args: Any) -> None:
        pass


def start(port: int) -> subprocess.Popen[bytes]:
    """The stand-in on ``port``, returned once it answers."""
    proc = subprocess.Popen([sys.executable, "-m", "bench.provider", str(port)])
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/fast", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the provider stand-in did not start")


if __name__ == "__main__":
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 256
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()

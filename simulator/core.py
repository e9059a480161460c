"""``Simulator``: the in-process handle - start/stop the server and control it directly.

Faults, runtime settings and the request log are manipulated under the engine lock without
HTTP, so a test in the same process pays nothing; :class:`simulator.client.SimulatorClient`
offers the same methods over the ``/_sim`` control API for a simulator running in another
process.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from simulator import settings as switches
from simulator.engine import Credentials, Engine
from simulator.fakes import base_urls
from simulator.faults import Fault
from simulator.server import SimHTTPServer


class Simulator:
    """Every provider's fake API on one loopback HTTP port.

    Keyword arguments are :class:`~simulator.Credentials` fields (each fake's own),
    overriding the credentials it accepts."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **credentials: str) -> None:
        self.host, self.port = host, port
        self.credentials = Credentials(**credentials)
        self.engine = Engine(self.credentials)
        self._server: SimHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Simulator:
        """Bind and serve in a daemon thread; ``port=0`` picks a free port."""
        if self._server is not None:
            return self
        self._server = SimHTTPServer((self.host, self.port), self.engine)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"simulator:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread (used by ``python -m simulator``)."""
        self.start()
        assert self._thread is not None
        self._thread.join()

    def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (wildcard binds are reported as loopback)."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def __getattr__(self, name: str) -> str:
        """``<provider>_url``: where that provider's SDK is pointed (its base URL)."""
        urls = base_urls(self.url) if name.endswith("_url") and name != "url" else {}
        if name not in urls:
            raise AttributeError(name)
        return urls[name]

    # -- control ---------------------------------------------------------------------------
    def inject(
        self,
        provider: str,
        method: str = "*",
        path: str | None = None,
        *,
        status: int | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        retry_after: float | None = None,
        rate_limit: str | None = None,
        latency: float | None = None,
        slow_response: float | None = None,
        drop_response: bool = False,
        unauthorized: bool = False,
        times: int | None = 1,
    ) -> dict[str, Any]:
        """Arm a fault; ``path`` is a regex searched in the provider-relative path (the
        path after the fake's prefix, or the method name of an RPC-style fake).
        Returns the fault as a dict (with its ``id``)."""
        fault = Fault(
            provider=provider,
            method=method,
            path=path,
            status=status,
            body=body,
            headers=dict(headers or {}),
            retry_after=retry_after,
            rate_limit=rate_limit,
            latency=latency,
            slow_response=slow_response,
            drop_response=drop_response,
            unauthorized=unauthorized,
            times=times,
        )
        return self.engine.add_fault(fault).to_dict()

    def faults(self) -> list[dict[str, Any]]:
        """Faults still armed."""
        with self.engine.lock:
            return [f.to_dict() for f in self.engine.faults.active()]

    def clear_faults(self) -> int:
        """Disarm every fault; returns how many were armed."""
        with self.engine.lock:
            return self.engine.faults.clear()

    def requests(
        self, provider: str | None = None, method: str | None = None, path: str | None = None
    ) -> list[dict[str, Any]]:
        """Recorded requests, oldest first (``path`` is a regex)."""
        with self.engine.lock:
            return self.engine.log.select(provider, method, path)

    def clear_requests(self) -> None:
        """Forget recorded requests, keep state and faults."""
        with self.engine.lock:
            self.engine.log.clear()

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change runtime switches (each fake's own, see :mod:`simulator.settings`);
        returns them all."""
        with self.engine.lock:
            return switches.apply(self.engine.state, changes)

    def settings(self) -> dict[str, Any]:
        """The runtime switches and their values."""
        with self.engine.lock:
            return switches.current(self.engine.state)

    def reset(self) -> None:
        """Restore seed state and default settings, disarm faults, clear the request log."""
        self.engine.reset()

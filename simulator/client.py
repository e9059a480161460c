"""``SimulatorClient``: drive a simulator in another process through its ``/_sim`` control API.

Same method names as :class:`simulator.Simulator` (``inject``, ``configure``, ``requests``,
``reset``...), so a test can swap one for the other. Uses only the standard library.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

from simulator.fakes import base_urls


class SimulatorClientError(RuntimeError):
    """The control API rejected a call (bad fault spec, unknown endpoint...)."""


class SimulatorClient:
    """HTTP client for a running simulator at ``url`` (e.g. ``http://127.0.0.1:8900``)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        # Each fake's base URL as an attribute (``<provider>_url``), as on ``Simulator``.
        for name, value in base_urls(self.url).items():
            setattr(self, name, value)

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise SimulatorClientError(f"{method} {path}: {exc.code} {exc.read()!r}") from exc

    def health(self) -> dict[str, Any]:
        """``{"ok": true, "<provider>_url": ..., ...}`` once the simulator answers."""
        return self._call("GET", "/_sim/health")

    def wait_ready(self, timeout: float = 10.0) -> SimulatorClient:
        """Poll ``health`` until the simulator is up (for freshly spawned processes)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.health()
                return self
            except OSError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)

    def inject(
        self, provider: str, method: str = "*", path: str | None = None, **effects: Any
    ) -> dict[str, Any]:
        """Arm a fault; keyword effects as in :meth:`simulator.Simulator.inject`."""
        spec = {"provider": provider, "method": method, "path": path, **effects}
        return self._call("POST", "/_sim/faults", spec)

    def faults(self) -> list[dict[str, Any]]:
        return self._call("GET", "/_sim/faults")

    def clear_faults(self) -> int:
        return int(self._call("DELETE", "/_sim/faults")["cleared"])

    def requests(
        self, provider: str | None = None, method: str | None = None, path: str | None = None
    ) -> list[dict[str, Any]]:
        """Recorded requests, oldest first (``path`` is a regex)."""
        query = {
            k: v
            for k, v in {"provider": provider, "method": method, "path": path}.items()
            if v is not None
        }
        return self._call("GET", "/_sim/requests" + (f"?{urlencode(query)}" if query else ""))

    def clear_requests(self) -> None:
        self._call("DELETE", "/_sim/requests")

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change runtime switches (see :mod:`simulator.settings`); returns them all."""
        return self._call("POST", "/_sim/settings", changes)

    def settings(self) -> dict[str, Any]:
        """The runtime switches and their values."""
        return self._call("GET", "/_sim/settings")

    def reset(self) -> None:
        """Restore seed state and default settings, disarm faults, clear the request log."""
        self._call("POST", "/_sim/reset")

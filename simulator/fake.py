"""What a provider's fake API gives the simulator: :class:`Fake`, declared as ``FAKE``
in the module its :class:`~worker.providers.Declaration` names as ``fake``.

The simulator owns the shared parts (server, fault engine, recorder, control API);
a fake owns its URL prefix, the credentials it accepts, its seeded state, its runtime
switches and the answers themselves (:class:`FakeApi`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from simulator.faults import Fault
from simulator.protocol import Request, Response


class FakeApi(Protocol):
    """What every fake API implements (built once per engine from the credentials)."""

    def authenticate(self, req: Request) -> bool: ...
    def unauthorized(self, req: Request) -> Response: ...
    def fault_response(self, fault: Fault, req: Request, st: Any) -> Response: ...
    def handle(self, req: Request, st: Any) -> Response: ...
    def finish(self, req: Request, resp: Response, st: Any) -> None: ...


def is_bool(value: Any) -> bool:
    return isinstance(value, bool)


@dataclass(frozen=True)
class Switch:
    """One runtime switch (``Simulator.configure``): read from and written to the
    fake's own state; ``valid`` checks a value, ``expects`` says what it wants."""

    name: str
    get: Callable[[Any], Any]
    set: Callable[[Any, Any], None]
    valid: Callable[[Any], bool] = is_bool
    expects: str = "true or false"


@dataclass(frozen=True)
class Fake:
    """One provider's fake API.

    ``prefix`` is where it is served: ``/<prefix>/...`` paths are its own, relative to
    it; a prefix ending in ``/`` is followed by a bare method name instead (RPC-style
    APIs). ``credentials`` are the :class:`simulator.Credentials` fields it owns, with
    their defaults (``choices`` restricts some); ``api(credentials)`` builds the API,
    ``seed()`` its part of the state.
    """

    prefix: str
    api: Callable[[Any], FakeApi]
    seed: Callable[[], Any]
    credentials: Mapping[str, str] = field(default_factory=dict)
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    switches: tuple[Switch, ...] = ()

    def relative(self, path: str) -> str | None:
        """``path`` relative to this fake's prefix, or None when it is not its own."""
        if self.prefix.endswith("/"):
            return path[len(self.prefix) :] if path.startswith(self.prefix) else None
        if path == self.prefix or path.startswith(self.prefix + "/"):
            return path[len(self.prefix) :] or "/"
        return None

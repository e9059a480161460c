"""Local provider simulator: each provider's fake API (its package's ``fake/``) on one port.

Real SDKs talk to it unchanged given each fake's base URL, so tools and retry logic can
be exercised end to end with seeded data, recorded requests and injected faults (status
codes, rate limits, latency, dropped responses, bad credentials)::

    from simulator import Simulator

    with Simulator() as sim:          # 127.0.0.1, free port
        sim.url                       # the root; sim.<provider>_url: each fake's base URL
        sim.inject("<provider>", path="<regex>", status=429, retry_after=3)
        sim.requests(provider="<provider>")

This package is the shared part: the server (``server``), the fault engine (``faults``,
``engine``), the recorder (``recorder``), the control API (``core``, ``client``) and the
runtime switches (``settings``); ``fakes`` finds the fakes from the provider
declarations, ``fake`` is what each one gives. ``python -m simulator --port 8900`` runs
one in the foreground; ``SimulatorClient(url)`` controls it from another process.
"""

from simulator.client import SimulatorClient, SimulatorClientError
from simulator.core import Simulator
from simulator.engine import Credentials
from simulator.faults import Fault, FaultError

__all__ = [
    "Credentials",
    "Fault",
    "FaultError",
    "Simulator",
    "SimulatorClient",
    "SimulatorClientError",
    "main",
]


def main(argv: list[str] | None = None) -> int:
    """CLI entry point (``python -m simulator``); imported lazily to keep imports light."""
    from simulator.__main__ import main as _main

    return _main(argv)

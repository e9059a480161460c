"""Local provider simulator: fake GitHub REST, Slack Web and Jira REST v2 APIs on one port.

Real SDKs (PyGithub, slack_sdk, jira) talk to it unchanged given the base URLs below, so
tools and retry logic can be exercised end to end with seeded data, recorded requests and
injected faults (status codes, rate limits, latency, dropped responses, bad credentials)::

    from simulator import Simulator

    with Simulator() as sim:          # 127.0.0.1, free port
        sim.github_url                # Github(base_url=...)
        sim.slack_url                 # WebClient(base_url=...)
        sim.jira_url                  # JIRA(server=...)
        sim.inject("slack", path="chat.postMessage", status=429, retry_after=3)
        sim.requests(provider="slack")

``python -m simulator --port 8900`` runs one in the foreground; ``SimulatorClient(url)``
controls it from another process.
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

"""The agent-side client's public name: ``from worker.client import FleetClient``.

It lives in :mod:`worker.front.client`; this module keeps the documented import working.
"""

from worker.front.client import FleetClient, ToolCall, UnknownTool

__all__ = ["FleetClient", "ToolCall", "UnknownTool"]

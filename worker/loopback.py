"""Whether one of the fleet's own servers (Flower, the MCP server) listens for this
machine only, and the host names it answers to there: declared once, for every door.

A server on loopback needs no credentials from local programs, but it still checks
the ``Host`` a request names (a DNS-rebinding page sends its own name) against
:data:`LOOPBACK_NAMES`; beyond loopback each door requires its credentials.
"""

from __future__ import annotations

import ipaddress

# The names a request to a loopback server may carry in Host (IPv6 bare: callers
# bracket it where a Host header needs it).
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def is_loopback(address: str) -> bool:
    """Whether ``address`` (a listening address: a name or an IP) is a loopback one."""
    address = address.strip("[]").lower()
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # any other name may resolve anywhere

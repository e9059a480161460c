"""`fleet mcp`: the fleet as an MCP server, over stdio (for desktop agents) or Streamable HTTP."""

from __future__ import annotations

import click

from worker.cli.output import fail
from worker.loopback import is_loopback
from worker.settings import get_settings


@click.command()
@click.option("--http", "over_http", is_flag=True, help="Serve Streamable HTTP at /mcp, not stdio.")
@click.option("--port", type=int, default=None, help="[FLEET_MCP_PORT, 8808]")
@click.option("--address", default=None, help="[FLEET_MCP_ADDRESS, 127.0.0.1]")
def mcp(over_http: bool, port: int | None, address: str | None) -> None:
    """Serve the tool catalog to MCP clients; calls run on the fleet's workers."""
    settings = get_settings()
    token = settings.mcp_token.get_secret_value() if settings.mcp_token else None
    port, address = port or settings.mcp_port, address or settings.mcp_address
    if over_http and token is None and not is_loopback(address):
        fail(
            f"refusing to serve MCP on {address} without a bearer token: "
            "set FLEET_MCP_TOKEN, or listen on 127.0.0.1"
        )
    from worker.front.client import FleetClient
    from worker.front.mcp_http import serve_http
    from worker.front.mcp_lanes import Lanes
    from worker.front.mcp_server import build_server, serve_stdio

    lanes = Lanes(settings.mcp_max_waits)
    server = build_server(FleetClient(), settings.mcp_wait_seconds, lanes)
    if not over_http:
        serve_stdio(server)
        return
    needs = "bearer token required" if token else "no token: loopback only"
    click.echo(f"mcp: http://{address}:{port}/mcp ({needs})", err=True)
    serve_http(
        server,
        lanes,
        address=address,
        port=port,
        token=token,
        allowed_hosts=settings.mcp_allowed_hosts,
        allowed_origins=settings.mcp_allowed_origins,
    )

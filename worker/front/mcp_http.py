"""`fleet mcp --http`: the Streamable HTTP app, every route of it behind the SDK's own
Host/Origin check and, with ``FLEET_MCP_TOKEN``, its bearer-token check.

The SDK's app puts both checks on ``/mcp`` alone: its DNS-rebinding protection
(``TransportSecurityMiddleware``) runs inside the ``/mcp`` transport, and its
``RequireAuthMiddleware`` wraps that one route. A route added beside it (``/events``)
would have neither, and a page that rebinds a name to 127.0.0.1 could read it. Here:

- **Host and Origin.** One layer in front of the router runs the SDK's
  ``TransportSecurityMiddleware.validate_request`` on every HTTP request, whatever its
  path (421 for a Host, 403 for an Origin it does not allow), with the same settings the
  ``/mcp`` transport gets. On loopback they allow the loopback names with this server's
  port only (the SDK's own default allows any port, so a page served by anything else on
  the machine would pass), plus ``FLEET_MCP_ALLOWED_HOSTS`` / ``FLEET_MCP_ALLOWED_ORIGINS``.
  Beyond loopback (which needs the token) the names are the deployment's: the check is on
  when ``FLEET_MCP_ALLOWED_HOSTS`` lists them; without it the token is the guard. A
  browser's request from another site that names no Origin is refused as well (403).
- **Token.** ``/events`` sits behind the same ``RequireAuthMiddleware`` as ``/mcp``,
  behind the SDK's ``BearerAuthBackend`` that the app applies to every request.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Any

from mcp.server.auth.provider import AccessToken
from mcp.server.lowlevel import Server
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings

from worker.front.mcp_lanes import Lanes
from worker.loopback import LOOPBACK_NAMES, is_loopback

FOREIGN_SITES = ("cross-site", "same-site")  # Sec-Fetch-Site of a page not this server's


class StaticToken:
    """The SDK's ``TokenVerifier`` for one shared bearer token (``FLEET_MCP_TOKEN``)."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    async def verify_token(self, token: str) -> AccessToken | None:
        if hmac.compare_digest(token.encode(), self._token):  # constant time
            return AccessToken(token=token, client_id="fleet-mcp", scopes=[])
        return None


def transport_security(
    address: str, port: int, hosts: Sequence[str] = (), origins: Sequence[str] = ()
) -> TransportSecuritySettings:
    """The Host and Origin allow-lists of a server on ``address:port``."""
    names: list[str] = []
    if is_loopback(address):
        spelled = [*LOOPBACK_NAMES, address]
        names = list(dict.fromkeys(f"[{n}]" if ":" in n else n for n in spelled))
    own = [f"{name}:{port}" for name in names]
    if port == 80:  # a client omits the default port from Host and Origin
        own += names
    allowed_hosts = [*own, *hosts]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=bool(allowed_hosts),
        allowed_hosts=allowed_hosts,
        allowed_origins=[*(f"http://{host}" for host in own), *origins],
    )


class EveryRoute:
    """ASGI: the SDK's Host/Origin check on every HTTP request, before any route.

    A browser leaves ``Origin`` out of a cross-site ``GET`` it makes without CORS (an
    image, a ``no-cors`` fetch), so the Origin check cannot see one; its
    ``Sec-Fetch-Site`` still says where it came from. Such a request is refused too: its
    answer is unreadable to the page, but a page could hold every long-poll place.
    """

    def __init__(self, app: Any, settings: TransportSecuritySettings) -> None:
        self.app = app
        self.security = TransportSecurityMiddleware(settings)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            from starlette.requests import Request
            from starlette.responses import Response

            request = Request(scope)
            refused = await self.security.validate_request(request)
            site = request.headers.get("sec-fetch-site")
            if refused is None and site in FOREIGN_SITES and "origin" not in request.headers:
                refused = Response("Invalid Origin header", status_code=403)  # as the SDK's
            if refused is not None:
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)


def http_app(
    server: Server[Any],
    lanes: Lanes,
    *,
    address: str,
    port: int,
    token: str | None,
    allowed_hosts: Sequence[str] = (),
    allowed_origins: Sequence[str] = (),
) -> Any:
    """The ASGI app: ``/mcp`` and ``/events``, each behind both checks."""
    from mcp.server.auth.middleware.bearer_auth import RequireAuthMiddleware
    from mcp.server.auth.settings import AuthSettings
    from starlette.middleware import Middleware
    from starlette.routing import Route

    from worker.front.http_events import events_endpoint

    security = transport_security(address, port, allowed_hosts, allowed_origins)
    auth: dict[str, Any] = {}
    guard: list[Middleware] = []
    if token is not None:
        host = f"[{address}]" if ":" in address else address
        # The SDK's bearer middleware wants AuthSettings; with no OAuth provider and no
        # resource metadata, the issuer URL is never served or checked.
        auth = {
            "auth": AuthSettings(issuer_url=f"http://{host}:{port}", resource_server_url=None),
            "token_verifier": StaticToken(token),
        }
        guard = [Middleware(RequireAuthMiddleware, required_scopes=[])]
    events = Route("/events", events_endpoint(lanes), methods=["GET"], middleware=guard)
    app = server.streamable_http_app(
        host=address, transport_security=security, custom_starlette_routes=[events], **auth
    )
    return EveryRoute(app, security)


def serve_http(
    server: Server[Any],
    lanes: Lanes,
    *,
    address: str,
    port: int,
    token: str | None,
    allowed_hosts: Sequence[str] = (),
    allowed_origins: Sequence[str] = (),
) -> None:
    """Serve :func:`http_app` with uvicorn (which stops cleanly on Ctrl-C itself)."""
    import uvicorn

    app = http_app(
        server,
        lanes,
        address=address,
        port=port,
        token=token,
        allowed_hosts=allowed_hosts,
        allowed_origins=allowed_origins,
    )
    uvicorn.run(app, host=address, port=port, log_level="warning")

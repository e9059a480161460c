"""Flower behind the fleet's own origin check: `fleet flower` runs it in-process.

Flower's API runs any tool with the fleet's tokens. Without credentials (the
loopback default) Flower 2.2 checks no request's origin, answers with
``Access-Control-Allow-Origin: *`` and json-decodes a ``text/plain`` body, so
any page open in the operator's browser could send calls, read their results
and shut workers down; loopback is no boundary for a browser, and basic auth
is none against cross-site requests (a browser attaches cached credentials).

So every request is judged before Flower routes it (:meth:`GuardedFlower.find_handler`,
Tornado's routing hook) and refused with a bare 403 when a browser says it comes
from elsewhere: an ``Origin`` that is not the one it is sent to, a
``Sec-Fetch-Site`` other than ``same-origin``/``none`` (``same-site``, i.e. another
local port, may only read; ``cross-site`` only navigate to a page, never the API),
another site's frame, or, on loopback, a ``Host`` that is not a loopback name (a
DNS-rebinding page). Non-browser clients (curl, Celery, httpx) send none of these
headers and are answered as before. No response carries Flower's CORS headers.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import tornado.web
from flower import command
from flower.app import Flower
from flower.urls import settings as flower_settings
from tornado import httputil
from tornado.options import options

from worker.loopback import LOOPBACK_NAMES, is_loopback

logger = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FRAMES = frozenset({"iframe", "frame", "fencedframe", "embed", "object"})
DEFAULT_PORTS = {"http": 80, "https": 443}


def _host_port(authority: str, scheme: str) -> tuple[str, int] | None:
    """``host[:port]`` as (lower-case name, port), or None when it is no plain authority."""
    try:
        split = urlsplit(f"//{authority}")
        port = split.port or DEFAULT_PORTS.get(scheme)
    except ValueError:
        return None
    if not split.hostname or split.netloc != authority or "@" in authority or port is None:
        return None
    return split.hostname, port


@dataclass(frozen=True)
class Guard:
    """Which requests reach Flower. ``names``: the host names it answers to (any
    port: an SSH tunnel moves it); None where basic auth is required instead (a
    rebinding page never holds the credentials)."""

    names: frozenset[str] | None
    api_prefix: str = "/api/"

    def refusal(self, method: str, path: str, host: str, headers: Mapping[str, str]) -> str | None:
        """Why this request is refused (for the log), or None to let it through."""
        own = _host_port(host, "http")
        if own is None or (self.names is not None and own[0] not in self.names):
            return f"Host {host[:100]!r} is not one of Flower's names"
        origin = headers.get("Origin")
        if origin is not None:
            parts = urlsplit(origin)
            if (
                parts.scheme not in DEFAULT_PORTS
                or parts.path
                or _host_port(parts.netloc, parts.scheme) != _host_port(host, parts.scheme)
            ):
                return f"Origin {origin[:100]!r} is not Flower's own"
        site = headers.get("Sec-Fetch-Site")
        dest = headers.get("Sec-Fetch-Dest", "")
        if site in (None, "same-origin", "none"):
            return None
        if site == "same-site" and method in SAFE_METHODS and dest not in FRAMES:
            return None  # another port of this host may link or load, never send or frame
        navigation = headers.get("Sec-Fetch-Mode") == "navigate" and dest == "document"
        page = method in ("GET", "HEAD") and not path.startswith(self.api_prefix)
        if site == "cross-site" and navigation and page:
            return None  # a link from elsewhere (a dashboard, OAuth's return) to a page
        return f"Sec-Fetch-Site {site[:40]!r} ({dest[:20] or 'no destination'}) for {method}"


class Refused(tornado.web.RequestHandler):
    """A bare 403 (why is in Flower's log): none of Flower's handlers, headers or
    pages are involved."""

    def check_xsrf_cookie(self) -> None:
        """Refused whatever form token it carries: nothing to check."""

    def prepare(self) -> None:
        self.set_status(403)
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.finish("Forbidden: a request from another site or for another host name.\n")


class WithoutCors(tornado.web.OutputTransform):
    """Drops the CORS headers Flower sets on every answer of an unauthenticated API:
    no page of another origin may read Flower (Tornado's one hook on every response)."""

    def transform_first_chunk(
        self, status_code: int, headers: httputil.HTTPHeaders, chunk: bytes, finishing: bool
    ) -> tuple[int, httputil.HTTPHeaders, bytes]:
        for name in [n for n in headers if n.lower().startswith("access-control-")]:
            del headers[name]
        return status_code, headers, chunk


class GuardedFlower(Flower):
    """Flower's application, each request judged by ``guard`` before it is routed."""

    def __init__(self, *, guard: Guard, **kwargs: Any) -> None:
        self.guard = guard
        super().__init__(transforms=[WithoutCors], **kwargs)

    def find_handler(self, request: httputil.HTTPServerRequest, **kwargs: Any) -> Any:
        reason = self.guard.refusal(
            request.method or "GET", request.path, request.host, request.headers
        )
        if reason is None:
            return super().find_handler(request, **kwargs)
        # Logged so an operator sees a page trying; the path only (a query may hold ids).
        logger.warning("refused %s %s: %s", request.method, request.path[:200], reason)
        return self.get_handler_delegate(request, Refused)


def serve(capp: Any, argv: list[str]) -> None:
    """Run Flower as its own command does (options from FLOWER_* variables and
    ``argv``, its logging and banner), with :class:`GuardedFlower` as the application."""
    command.apply_env_options()
    command.apply_options("flower", argv)
    command.extract_settings()
    command.setup_logging()
    prefix = f"/{options.url_prefix.strip('/')}" if options.url_prefix else ""
    names = None
    if is_loopback(options.address):
        names = frozenset({*LOOPBACK_NAMES, options.address.lower()})
    guard = Guard(names=names, api_prefix=f"{prefix}/api/")
    flower_app = GuardedFlower(guard=guard, capp=capp, options=options, **flower_settings)
    atexit.register(flower_app.stop)
    signal.signal(signal.SIGTERM, command.sigterm_handler)
    port = flower_app.start_http_server()
    command.print_banner(capp, "ssl_options" in flower_settings, port)
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        flower_app.start()

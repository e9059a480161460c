"""An HTTP client for agent-chosen URLs that refuses to reach private networks (SSRF).

For every hop (the first request and each redirect):

- only ``http`` and ``https``;
- the host is resolved once; if any address it resolves to is loopback,
  private, link-local (169.254.169.254), CGNAT, multicast, unspecified,
  reserved, or an IPv4-mapped / NAT64 / 6to4 form of one, the call is refused
  before any connection is opened;
- the check lives in the transport's connect step (a guarded httpcore
  network backend), so the socket goes to exactly the address that was
  checked — a second DNS answer cannot swap in another — while the URL keeps
  its name for ``Host``, TLS SNI and certificate checks;
- redirects are followed here, one hop at a time; a hop to a new host opens
  a new, checked connection. When a hop changes scheme, host or port, every
  sensitively named header (``Authorization``, ``Cookie``,
  ``Proxy-Authorization``, ``X-Api-Key``...) and the named credential are
  dropped for the rest of the chain, an https -> http downgrade included.
  (httpx's own redirect handling would keep a credential in any other header
  and ``Proxy-Authorization``, and reads each redirect's body without a limit.)

A named credential goes over plain ``http://`` only to the hosts it opts in
with ``plain_http_hosts``. No cookie jar keeps anything: a ``Set-Cookie`` from
one run is never sent by another (nor by a later hop of the same run), so no
state passes between agents sharing a worker.

Connections are pooled per process (keep-alive), keyed by host name: a
pooled connection was checked when it was opened.

Hosts listed in ``FLEET_HTTP_ALLOWED_HOSTS`` skip the address check (tests
and the demo use it for local servers). Proxies from the environment are
ignored: a proxy would connect to whatever it likes.
"""

from __future__ import annotations

import functools
import http.cookiejar
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from tasks.http.secrets import HttpCredential
from worker.errors import Forbidden, NotFound, Unavailable
from worker.redact import is_sensitive

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")


def forbidden_reason(ip: IPAddress) -> str | None:
    """Why an address may not be reached from an agent's call, or None if it may."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            inner = forbidden_reason(embedded)
            return f"{inner} (embedded in {ip})" if inner else None
    checks = (
        ("loopback", ip.is_loopback),
        ("unspecified", ip.is_unspecified),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("CGNAT", ip in CGNAT),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("not globally routable", not ip.is_global),
    )
    for label, hit in checks:
        if hit:
            return f"{ip} is {label}"
    return None


def resolve_checked(host: str, port: int) -> IPAddress:
    """Resolve ``host`` once and return an address every answer of which is allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        # A temporary DNS failure is worth retrying; a name that does not exist is not.
        error = Unavailable if exc.errno == socket.EAI_AGAIN else NotFound
        raise error(f"cannot resolve {host!r}: {exc.strerror}", {"host": host}) from None
    addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
    for ip in addresses:
        reason = forbidden_reason(ip)
        if reason:
            raise Forbidden(f"refused {host!r}: {reason}", {"host": host})
    return addresses[0]


class GuardedBackend(httpcore.SyncBackend):
    """Opens TCP connections only to addresses :func:`forbidden_reason` allows."""

    def __init__(self, allowed_hosts: frozenset[str]) -> None:
        self.allowed_hosts = allowed_hosts

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        if host.lower().rstrip(".") not in self.allowed_hosts:
            host = str(resolve_checked(host, port))
        return super().connect_tcp(host, port, timeout, local_address, socket_options)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with the guarded backend underneath its connection pool."""

    def __init__(self, allowed_hosts: frozenset[str]) -> None:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        super().__init__(verify=_tls_context(), limits=limits)
        self._pool = httpcore.ConnectionPool(
            ssl_context=_tls_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(allowed_hosts),
        )


class NoCookies(http.cookiejar.CookiePolicy):
    """A policy that stores no cookie and returns none: the shared client keeps no state."""

    netscape = True
    rfc2965 = hide_cookie2 = False

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False

    def domain_return_ok(self, domain: str, request: Any) -> bool:
        return False

    def path_return_ok(self, path: str, request: Any) -> bool:
        return False


_clients: dict[frozenset[str], httpx.Client] = {}
_clients_lock = threading.Lock()


def _client(allowed_hosts: frozenset[str]) -> httpx.Client:
    """The process's pooled client for one allow-list (thread-safe, created once)."""
    with _clients_lock:
        client = _clients.get(allowed_hosts)
        if client is None:
            client = _clients[allowed_hosts] = httpx.Client(
                transport=GuardedTransport(allowed_hosts),
                follow_redirects=False,
                trust_env=False,  # a proxy would connect wherever it likes
                # The client is shared by every run of the process: a jar would hand one
                # agent's session cookies to the next caller of that site.
                cookies=http.cookiejar.CookieJar(policy=NoCookies()),
            )
        return client


@dataclass(frozen=True)
class Fetched:
    """A response read up to the size limit."""

    status: int
    url: str
    headers: dict[str, str]
    content: bytes
    truncated: bool
    encoding: str | None


class SafeHttp:
    """Guarded requests with one call's limits; cheap to build per call."""

    def __init__(
        self,
        *,
        allowed_hosts: list[str] | tuple[str, ...] = (),
        timeout: float = 30.0,
        max_redirects: int = 5,
        max_bytes: int = 262_144,
    ) -> None:
        self.allowed_hosts = frozenset(h.lower().rstrip(".") for h in allowed_hosts)
        self.timeout = timeout
        self.max_redirects = max_redirects
        self.max_bytes = max_bytes

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        content: bytes | None = None,
        credential: HttpCredential | None = None,
    ) -> Fetched:
        """One request, redirects followed by hand so that every hop is guarded.
        ``credential``'s header is added while the chain stays on the URL's origin."""
        target = httpx.URL(url, params=params) if params else httpx.URL(url)
        headers = dict(headers or {})
        client = _client(self.allowed_hosts)
        if credential is not None and not credential.allows(target.host, target.scheme):
            raise Forbidden(f"the credential may not be sent to {target.scheme}://{target.host}")
        for _hop in range(self.max_redirects + 1):
            sent = headers
            if credential is not None:
                sent = {**headers, credential.header: credential.value.get_secret_value()}
            fetched = self._send(client, method, target, sent, content)
            location = fetched.headers.get("location")
            if fetched.status not in REDIRECT_STATUSES or not location:
                return fetched
            next_target = target.join(location)
            if fetched.status == 303 or (fetched.status in (301, 302) and method == "POST"):
                method, content = "GET", None
            if _origin(next_target) != _origin(target):
                # What authenticates to one origin never follows a redirect to another:
                # a downgrade to http or another port of the same host is another origin.
                headers = {k: v for k, v in headers.items() if not is_sensitive(k)}
                credential = None
            target = next_target
        raise Unavailable(f"more than {self.max_redirects} redirects", {"url": str(target)})

    def _send(
        self,
        client: httpx.Client,
        method: str,
        target: httpx.URL,
        headers: dict[str, str],
        content: bytes | None,
    ) -> Fetched:
        if target.scheme not in ("http", "https"):
            raise Forbidden(f"only http and https URLs are allowed, not {target.scheme!r}")
        if not target.host:
            raise Forbidden(f"URL has no host: {target}")
        request = client.build_request(
            method, target, headers=headers, content=content, timeout=self.timeout
        )
        try:
            response = client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise Unavailable(f"timed out: {type(exc).__name__}", {"url": str(target)}) from None
        except httpx.TransportError as exc:
            raise Unavailable(f"connection failed: {exc}", {"url": str(target)}) from None
        try:
            body, truncated = self._read_limited(response)
        finally:
            response.close()
        return Fetched(
            status=response.status_code,
            url=str(target),
            headers={k.lower(): v for k, v in response.headers.items()},
            content=body,
            truncated=truncated,
            encoding=response.charset_encoding,
        )

    def _read_limited(self, response: httpx.Response) -> tuple[bytes, bool]:
        chunks, size = [], 0
        try:
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size > self.max_bytes:
                    return b"".join(chunks)[: self.max_bytes], True
        except httpx.TimeoutException:
            raise Unavailable("timed out reading the response") from None
        except httpx.TransportError as exc:
            raise Unavailable(f"connection lost reading the response: {exc}") from None
        return b"".join(chunks), False


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    """Scheme, host and port (httpx normalizes a scheme's default port to None)."""
    return url.scheme, url.host.lower().rstrip("."), url.port


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process: building one loads the CA bundle (~35 ms)."""
    return httpx.create_ssl_context()

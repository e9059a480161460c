"""An HTTP client for agent-chosen URLs that refuses to reach private networks (SSRF).

For every hop (the first request and each redirect):

- only ``http`` and ``https``;
- the host is resolved once; if any address it resolves to is loopback,
  private, link-local (169.254.169.254), CGNAT, multicast, unspecified,
  reserved, or an IPv4-mapped / NAT64 / 6to4 form of one, the call is refused
  before any connection is opened;
- the connection goes to the address that was checked (the URL is pinned to
  it; ``Host`` and TLS SNI keep the name), so a second DNS answer cannot
  swap in another address;
- redirects are followed here, one hop at a time, each re-checked.

Hosts listed in ``FLEET_HTTP_ALLOWED_HOSTS`` skip the address check (tests
and the demo use it for local servers). Proxies from the environment are
ignored: a proxy would connect to whatever it likes.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any

import httpx

from worker.errors import Forbidden, NotFound, Unavailable

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
    """One guarded request at a time; build one per call."""

    def __init__(
        self,
        *,
        allowed_hosts: list[str] | tuple[str, ...] = (),
        timeout: float = 30.0,
        max_redirects: int = 5,
        max_bytes: int = 262_144,
    ) -> None:
        self.allowed_hosts = {h.lower().rstrip(".") for h in allowed_hosts}
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
    ) -> Fetched:
        target = httpx.URL(url, params=params) if params else httpx.URL(url)
        headers = dict(headers or {})
        with httpx.Client(timeout=self.timeout, follow_redirects=False, trust_env=False) as client:
            for _hop in range(self.max_redirects + 1):
                fetched = self._send(client, method, target, headers, content)
                location = fetched.headers.get("location")
                if fetched.status not in REDIRECT_STATUSES or not location:
                    return fetched
                next_target = target.join(location)
                if fetched.status == 303 or (fetched.status in (301, 302) and method == "POST"):
                    method, content = "GET", None
                if next_target.host != target.host:
                    # Credentials meant for one origin never follow a redirect to another.
                    headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
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
        pinned, extensions = target, {}
        if target.host.lower().rstrip(".") not in self.allowed_hosts:
            ip = resolve_checked(
                target.host, target.port or (443 if target.scheme == "https" else 80)
            )
            pinned = target.copy_with(host=str(ip))
            headers = {**headers, "Host": _host_header(target)}
            if target.scheme == "https":
                extensions = {"sni_hostname": target.host}
        request = client.build_request(
            method, pinned, headers=headers, content=content, extensions=extensions
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


def _host_header(url: httpx.URL) -> str:
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{host}:{url.port}" if url.port else host

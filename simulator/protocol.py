"""Provider-neutral request/response types passed between the HTTP plumbing and the fake APIs.

The HTTP layer (``server.py``) turns raw sockets into a :class:`Request`; each fake API
(:class:`simulator.fake.FakeApi`) turns a :class:`Request` into a :class:`Response`
without ever touching sockets, which keeps the providers easy to read and to test in isolation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Request:
    """One parsed HTTP request, with the path made relative to its provider prefix."""

    method: str
    provider: str
    path: str  # e.g. "/repos/octo/hello/issues", "chat.postMessage", "/rest/api/2/search"
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: Any  # parsed JSON, dict[str, str] for forms, text otherwise, None when empty
    raw_body: bytes
    root: str  # "http://host:port" as the client addressed us
    body_error: str | None = None  # set when a JSON body failed to parse

    def arg(self, name: str, default: str | None = None) -> str | None:
        """First query-string value of ``name``."""
        values = self.query.get(name)
        return values[0] if values else default

    def int_arg(self, name: str, default: int) -> int:
        """Query value as int, falling back to ``default`` when absent or malformed."""
        value = self.arg(name)
        try:
            return int(value) if value not in (None, "") else default
        except ValueError:
            return default

    @property
    def json_body(self) -> dict[str, Any]:
        """The body when it is a JSON object, else an empty dict."""
        return self.body if isinstance(self.body, dict) else {}


@dataclass
class Response:
    """A provider answer; ``body`` is JSON-serialisable (or None for an empty body)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """Case-insensitive header lookup."""
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)

    def default_header(self, name: str, value: str) -> None:
        """Set a header unless one with the same name (any case) is already present."""
        if self.header(name) is None:
            self.headers[name] = value

    def encode(self) -> bytes:
        """Serialise the body the way the real APIs do (compact JSON, UTF-8)."""
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, separators=(",", ":")).encode("utf-8")


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON :class:`Response` with the usual content type."""
    merged = {"Content-Type": "application/json; charset=utf-8"}
    merged.update(headers or {})
    return Response(status=status, body=body, headers=merged)

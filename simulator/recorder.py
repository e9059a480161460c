"""Request log: what each client sent, minus credentials, and what it got back.

Entries never contain a credential: the ``Authorization``/``Cookie`` headers are dropped
(only ``auth_valid`` is kept) and a ``token`` argument (RPC-style APIs take the credential
as one) is masked wherever it appears.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from simulator.protocol import Request

SECRET_HEADERS = {"authorization", "cookie", "proxy-authorization"}
MASK = "***"


def _mask_tokens(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: MASK if k == "token" else v for k, v in value.items()}
    return value


class RequestLog:
    """Append-only list of request records; the simulator's lock guards it."""

    def __init__(self) -> None:
        self._entries: list[dict[str, Any]] = []

    def add(
        self,
        req: Request,
        *,
        url_path: str,
        started: float,
        auth_valid: bool,
        status: int,
        fault_id: int | None,
        dropped: bool,
    ) -> None:
        """Record one request (call after the response status is known)."""
        query = {k: v[0] if len(v) == 1 else list(v) for k, v in req.query.items()}
        self._entries.append(
            {
                "id": len(self._entries) + 1,
                "timestamp": started,
                "provider": req.provider,
                "method": req.method,
                "path": req.path,
                "url_path": url_path,
                "query": _mask_tokens(query),
                "headers": {k: v for k, v in req.headers.items() if k not in SECRET_HEADERS},
                "body": _mask_tokens(copy.deepcopy(req.body)),
                "auth_valid": auth_valid,
                "status": status,
                "dropped": dropped,
                "fault_id": fault_id,
            }
        )

    def clear(self) -> None:
        self._entries.clear()

    def select(
        self, provider: str | None = None, method: str | None = None, path: str | None = None
    ) -> list[dict[str, Any]]:
        """Matching entries, oldest first; ``path`` is a regex searched in the relative path."""
        pattern = re.compile(path) if path else None
        return [
            copy.deepcopy(e)
            for e in self._entries
            if (provider is None or e["provider"] == provider)
            and (method is None or e["method"] == method.upper())
            and (pattern is None or pattern.search(e["path"]) or pattern.search(e["url_path"]))
        ]

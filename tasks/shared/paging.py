"""Bounded pages for list tools: the shared ``limit``/``cursor`` params and result shape.

Every list tool returns ``{"items": [...], "count": n, "next_cursor": c}``;
``next_cursor`` is ``None`` on the last page, otherwise an opaque string to
pass back as ``cursor``. Never an unbounded list.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from pydantic import BaseModel, Field

from worker.errors import BadParams

MAX_LIMIT = 100


class PageParams(BaseModel):
    """Mixed into every list tool's params."""

    limit: int = Field(default=30, ge=1, le=MAX_LIMIT, description="Items per page (1-100).")
    cursor: str | None = Field(
        default=None, max_length=2048, description="`next_cursor` of the previous page."
    )


def page(items: list[Any], next_cursor: str | None) -> dict[str, Any]:
    return {"items": items, "count": len(items), "next_cursor": next_cursor}


def encode_cursor(state: dict[str, Any]) -> str:
    """An opaque cursor carrying ``state`` (e.g. page number and page size)."""
    raw = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    """The state in a cursor made by :func:`encode_cursor`; ``BadParams`` if it is not one."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        state = json.loads(raw)
    except (binascii.Error, ValueError):
        raise BadParams(f"cursor {cursor[:40]!r} is not a cursor this tool returned") from None
    if not isinstance(state, dict):
        raise BadParams(f"cursor {cursor[:40]!r} is not a cursor this tool returned")
    return state

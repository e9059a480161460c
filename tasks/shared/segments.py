"""Params values that become one segment of a provider's URL path: checked, then quoted.

A repository's owner and name, a Jira issue key: whatever a tool puts into a URL path
must stay the one segment it was meant to be. HTTP clients normalize ``.`` and ``..``
away before sending (``/repos/../user`` goes out as ``GET /user``), a ``/`` or ``\\``
adds a level, ``%2e%2e`` is ``..`` to many servers, ``?`` and ``#`` end the path. Each
tool's params model refuses such values with a pattern of its own (so its published
JSON schema says so too); :func:`segment` checks again where the value is put into a
path and quotes it, for SDKs that join paths without quoting (PyGithub, jira).
"""

from __future__ import annotations

import re
from urllib.parse import quote

from worker.errors import BadParams

# A segment of letters, digits, "_", "-" and "." with at least one that is not a dot:
# ".github" and "hello.js" are names, "." and ".." are not.
NAME_SEGMENT = r"\.*[A-Za-z0-9_-][A-Za-z0-9_.-]*"
_REFUSED = re.compile(r"[/\\%?#\s\x00-\x1f\x7f]")


def check_segment(value: str) -> str:
    """``value`` if it can only ever be one path segment, else ``ValueError``."""
    if not value or set(value) == {"."}:
        raise ValueError(f"{value!r} is not a name (empty, '.' or '..')")
    if _REFUSED.search(value):
        raise ValueError(f"{value!r} holds a character a path segment must not")
    return value


def segment(value: str) -> str:
    """``value`` checked and percent-quoted as one path segment (nothing kept unquoted);
    :class:`~worker.errors.BadParams` (never a request) if it cannot be one."""
    try:
        return quote(check_segment(value), safe="")
    except ValueError as exc:
        raise BadParams(str(exc)) from None


def segments(value: str, count: int) -> str:
    """``"owner/name"`` with each of its ``count`` parts a quoted :func:`segment`."""
    parts = value.split("/")
    if len(parts) != count:
        raise BadParams(f"{value!r} is not {count} names separated by '/'")
    return "/".join(segment(part) for part in parts)

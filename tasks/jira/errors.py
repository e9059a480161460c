"""``JIRAError`` and requests failures → the taxonomy: the one Jira error mapper."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from worker.errors import Fatal, ToolError, Unavailable, internal, status_error
from worker.errors import parse_retry_after as retry_after_of
from worker.runtime.sdk import lazy

if TYPE_CHECKING:
    pass

# Loaded by Provider.connect, not by reading the catalog (worker.runtime.sdk).
jira_sdk = lazy("jira")
requests = lazy("requests")


ERROR_CHARS = 300


def map_error(exc: Exception) -> ToolError:
    """``JIRAError`` and requests failures → the taxonomy (the one Jira mapper).

    Never ``str(exc)``: a JIRAError's text includes request and response headers.
    """
    # Dropped connections, timeouts and bodies cut mid-way: the provider, not the call, failed.
    network = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
    if isinstance(exc, network):
        return Unavailable(f"Jira unreachable: {type(exc).__name__}")
    if not isinstance(exc, jira_sdk.JIRAError):
        return internal(exc, step="the call", before_call=False)
    response = exc.response
    if exc.status_code is None or response is None:
        return Fatal(f"Jira: {' '.join(str(exc.text or 'no details').split())[:ERROR_CHARS]}")
    status = exc.status_code
    retry_after = None
    if status in (429, 503):
        retry_after = retry_after_of(response.headers.get("Retry-After"))
    return status_error(
        status,
        f"Jira {status}: {_error_summary(response)}",
        request_id=response.headers.get("X-AREQUESTID"),
        retry_after=retry_after,
    )


def _error_summary(response: Any) -> str:
    """Jira's ``errorMessages`` and ``errors`` as one short line (never the raw body)."""
    try:
        data = response.json()
    except ValueError:
        data = None
    parts: list[str] = []
    if isinstance(data, dict):
        parts += [str(m) for m in data.get("errorMessages") or []]
        errors = data.get("errors")
        if isinstance(errors, dict):
            parts += [f"{field}: {message}" for field, message in errors.items()]
        if not parts and data.get("message"):
            parts.append(str(data["message"]))
    text = " ".join("; ".join(parts).split()) or response.reason or "no details"
    return text[:ERROR_CHARS]

"""PyGithub and requests failures → the taxonomy: the one GitHub error mapper."""

from __future__ import annotations

import time
from typing import Any

from worker.errors import (
    RateLimited,
    ToolError,
    Unavailable,
    internal,
    parse_retry_after,
    status_error,
)
from worker.runtime.sdk import lazy

# Loaded by Provider.connect, not by reading the catalog (worker.runtime.sdk).
github = lazy("github")
requests = lazy("requests")

SECONDARY_LIMIT_WAIT = 60.0  # GitHub: without retry-after, wait at least a minute


def map_error(exc: Exception) -> ToolError:
    """PyGithub and requests failures → the taxonomy (the one GitHub mapper)."""
    if isinstance(exc, requests.Timeout | requests.ConnectionError):
        return Unavailable(f"GitHub unreachable: {type(exc).__name__}")
    if not isinstance(exc, github.GithubException):
        return internal(exc, step="the call", before_call=False)
    headers = {k.lower(): str(v) for k, v in (exc.headers or {}).items()}
    data = exc.data if isinstance(exc.data, dict) else {}
    message = str(data.get("message") or exc.data or "no message")
    details = {"request_id": headers.get("x-github-request-id")}
    rate_limited = isinstance(exc, github.RateLimitExceededException) or (
        exc.status in (403, 429)
        and (headers.get("x-ratelimit-remaining") == "0" or "retry-after" in headers)
    )
    if rate_limited:
        details["retry_after"] = _rate_limit_wait(headers)
        return RateLimited(
            f"GitHub {exc.status}: {message}", details | {"provider_status": exc.status}
        )
    if exc.status == 422 and data.get("errors"):
        message = f"{message}: {_validation_errors(data['errors'])}"
    return status_error(exc.status, f"GitHub {exc.status}: {message}", **details)


def _rate_limit_wait(headers: dict[str, str]) -> float:
    retry_after = parse_retry_after(headers.get("retry-after"))
    if retry_after is not None:
        return retry_after
    reset = parse_retry_after(headers.get("x-ratelimit-reset"))  # a unix time, if a number
    if headers.get("x-ratelimit-remaining") == "0" and reset is not None:
        return max(1.0, reset - time.time())
    return SECONDARY_LIMIT_WAIT


def _validation_errors(errors: list[Any]) -> str:
    parts = []
    for err in errors[:5]:
        if isinstance(err, dict):
            parts.append(f"{err.get('field', '?')} {err.get('code', 'invalid')}")
        else:
            parts.append(str(err))
    return "; ".join(parts)

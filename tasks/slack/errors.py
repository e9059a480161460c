"""slack_sdk and urllib failures → the taxonomy: the one Slack error mapper.

Slack answers most errors as HTTP 200 ``{"ok": false, "error": code}``;
:func:`map_error` classifies them by that code (and the HTTP status).
"""

from __future__ import annotations

import re
from http.client import HTTPException
from typing import TYPE_CHECKING, Any
from urllib.error import URLError

from worker.errors import (
    BadParams,
    Conflict,
    Fatal,
    NotFound,
    RateLimited,
    ToolError,
    Unauthorized,
    Unavailable,
    internal,
    parse_retry_after,
    status_error,
)
from worker.runtime.sdk import lazy

if TYPE_CHECKING:
    from slack_sdk.errors import SlackApiError

# Loaded by Provider.connect, not by reading the catalog (worker.runtime.sdk).
slack_sdk = lazy("slack_sdk")

RATE_LIMITED_WAIT = 1.0  # "rate_limited" (HTTP 200, no header): Slack's ~1 msg/s per channel
UNAUTHORIZED = {
    "not_authed", "invalid_auth", "account_inactive", "token_revoked", "token_expired",
    "missing_scope", "no_permission", "not_allowed_token_type", "not_in_channel",
    "access_denied", "restricted_action", "ekm_access_denied", "team_access_not_granted",
}  # fmt: skip
NOT_FOUND = {
    "channel_not_found", "user_not_found", "users_not_found", "thread_not_found",
    "message_not_found", "team_not_found",
}  # fmt: skip
CONFLICT = {"name_taken", "already_in_channel", "is_archived", "already_archived"}
BAD_PARAMS = {
    "invalid_blocks", "invalid_blocks_format", "msg_too_long", "no_text", "invalid_arguments",
    "invalid_arg_name", "invalid_array_arg", "invalid_cursor", "invalid_limit", "invalid_types",
    "invalid_thread_ts", "invalid_json", "json_not_object", "invalid_form_data",
    "invalid_charset", "too_many_attachments", "bad_timestamp",
}  # fmt: skip
BAD_PARAMS_PREFIXES = ("invalid_name", "invalid_ts_")
UNAVAILABLE = {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}


def map_error(exc: Exception) -> ToolError:
    """slack_sdk and urllib failures → the taxonomy (the one Slack mapper)."""
    if isinstance(exc, slack_sdk.errors.SlackApiError):
        return _api_error(exc)
    # socket.timeout is TimeoutError; RemoteDisconnected is a ConnectionError.
    if isinstance(exc, URLError | TimeoutError | ConnectionError | HTTPException):
        return Unavailable(f"Slack unreachable: {type(exc).__name__}")
    return internal(exc, step="the call", before_call=False)


def _api_error(exc: SlackApiError) -> ToolError:
    response = exc.response
    status = int(getattr(response, "status_code", 0) or 0)
    headers = {k.lower(): str(v) for k, v in (getattr(response, "headers", None) or {}).items()}
    data = response.data if isinstance(getattr(response, "data", None), dict) else {}
    raw_code = str(data.get("error") or "")
    # On a non-JSON body the SDK puts its own sentence here: not a code worth keeping.
    code = raw_code if re.fullmatch(r"[a-z0-9_]+", raw_code) else None
    method = str(getattr(response, "api_url", "") or "").split("?")[0].rsplit("/", 1)[-1]
    message = f"Slack {method or 'API'}: {code or f'HTTP {status}'}"
    if code == "missing_scope" and data.get("needed"):
        message += f" (needs {str(data['needed'])[:100]})"
    notes = (data.get("response_metadata") or {}).get("messages") or []
    if notes:
        message += ": " + "; ".join(str(n)[:200] for n in notes[:3])
    details: dict[str, Any] = {
        "provider_status": status,
        "code": code,
        "request_id": headers.get("x-slack-req-id"),
    }
    if status == 429 or code in ("ratelimited", "rate_limited"):
        wait = parse_retry_after(headers.get("retry-after"))
        details["retry_after"] = wait if wait is not None else RATE_LIMITED_WAIT
        return RateLimited(message, details)
    if status >= 500 or code in UNAVAILABLE:
        return Unavailable(message, details)
    for codes, cls in ((UNAUTHORIZED, Unauthorized), (NOT_FOUND, NotFound), (CONFLICT, Conflict)):
        if code in codes:
            return cls(message, details)
    if code in BAD_PARAMS or (code or "").startswith(BAD_PARAMS_PREFIXES):
        return BadParams(message, details)
    if status != 200:
        return status_error(status, message, **details)
    return Fatal(message, details)

"""The error taxonomy every tool outcome is classified into.

    ToolError
      Retryable                 retried with backoff
        RateLimited                429 and provider rate limits (carries retry_after)
        Unavailable                5xx, timeouts, connection errors, circuit open
      Fatal                     never retried; dead letter at once
        BadParams                  invalid params (pydantic or provider 422)
        Unauthorized               401 / bad token / missing scope
        Forbidden                  refused by the fleet's own policy (SSRF guard)
        NotFound                   404
        Conflict                   409 / already exists
      InternalError             a failure of the fleet's own code that nothing classified:
                                retried if the provider had not been called yet,
                                otherwise dead at once (a write may have happened)

An error's constructor takes ``(message, details)`` — both JSON — so Celery's
JSON exception serialization rebuilds the same class on the caller's side and
``AsyncResult.get()`` raises it. Messages are redacted and truncated here, once,
and details redacted: both are the exception's ``args``, which Celery stores in
the result backend and shows in task events (``repr(exc)``), so nothing an error
carries may hold a secret.
"""

from __future__ import annotations

import math
import time
import traceback
from typing import Any, ClassVar

from pydantic import ValidationError

from worker.redact import redact, redact_json

MAX_MESSAGE_CHARS = 500


class ToolError(Exception):
    """Base of every classified tool failure."""

    retryable: ClassVar[bool] = False

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        message = redact(str(message))
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[: MAX_MESSAGE_CHARS - 1] + "…"
        # Stored as JSONB, which has no Infinity or NaN: such a value is kept as text.
        clean = redact_json({k: _storable(v) for k, v in (details or {}).items() if v is not None})
        super().__init__(message, clean)
        self.message = message
        self.details: dict[str, Any] = clean

    @property
    def retry_after(self) -> float | None:
        """Seconds the provider asked us to wait, when it said so."""
        value = self.details.get("retry_after")
        return float(value) if value is not None else None

    def to_dict(self) -> dict[str, Any]:
        """The shape stored in ``tool_runs.error`` and ``dead_letters.error``."""
        return {
            "type": type(self).__name__,
            "message": self.message,
            "retryable": self.retryable,
            **self.details,
        }

    def __str__(self) -> str:
        return self.message


def _storable(value: Any) -> Any:
    return repr(value) if isinstance(value, float) and not math.isfinite(value) else value


class InternalError(ToolError):
    """The fleet's own code failed in a way nothing classified (a bug, an unforeseen
    answer). ``details["before_call"]``: the provider had not been called yet, so the
    run may simply be tried again; after the call it may not (a write may have happened).
    """

    @property  # type: ignore[override]
    def retryable(self) -> bool:  # derived from details: rebuilt alike from a stored error
        return bool(self.details.get("before_call"))

    ambiguous = True


def internal(exc: BaseException, *, step: str, before_call: bool) -> InternalError:
    """An unforeseen exception as an InternalError naming where it happened."""
    return InternalError(
        f"internal error at {step}: {type(exc).__name__}: {exc}",
        {"step": step, "before_call": before_call},
    )


class Retryable(ToolError):
    """Worth trying again later.

    ``ambiguous``: whether the failed call may have taken effect anyway (its
    response lost). A write retried after an ambiguous failure first looks
    for its own earlier effect; after a definitive one it simply runs again.
    """

    retryable = True
    ambiguous: ClassVar[bool] = True


class RateLimited(Retryable):
    """The provider (or the fleet's governor) said: not now. Nothing was done."""

    ambiguous = False


class Unavailable(Retryable):
    """The provider is down, slow or unreachable: a 5xx, a timeout, a dropped connection."""


class Fatal(ToolError):
    """Will fail the same way every time; goes straight to the dead letters."""


class BadParams(Fatal):
    """The call's parameters are invalid."""


class Unauthorized(Fatal):
    """Credentials are missing, wrong, or lack a permission."""


class Forbidden(Fatal):
    """The fleet's own policy refuses the call (e.g. a private network address)."""


class NotFound(Fatal):
    """The thing named does not exist."""


class Conflict(Fatal):
    """The thing already exists or is in a conflicting state."""


ERROR_TYPES: dict[str, type[ToolError]] = {
    cls.__name__: cls
    for cls in (
        ToolError,
        Retryable,
        RateLimited,
        Unavailable,
        Fatal,
        InternalError,
        BadParams,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
    )
}


def bad_params(exc: ValidationError, prefix: str = "") -> BadParams:
    """pydantic's errors as one readable line: ``url: Field required; method: ...``."""
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "params"
        parts.append(f"{where}: {err['msg']}")
    return BadParams(prefix + "; ".join(parts))


def from_dict(error: dict[str, Any]) -> ToolError:
    """Rebuild an error from its stored form (the ledger's ``error`` column)."""
    cls = ERROR_TYPES.get(str(error.get("type")), Fatal)
    details = {k: v for k, v in error.items() if k not in {"type", "message", "retryable"}}
    return cls(str(error.get("message", "")), details)


def status_error(status: int, message: str, **details: Any) -> ToolError:
    """Classify an HTTP status the way every HTTP-speaking provider shares."""
    details = {"provider_status": status, **details}
    if status == 429:
        return RateLimited(message, details)
    if status == 408 or status >= 500:
        return Unavailable(message, details)
    if status in (401, 403):
        return Unauthorized(message, details)
    if status in (404, 410):
        return NotFound(message, details)
    if status == 409:
        return Conflict(message, details)
    if status in (400, 422):
        return BadParams(message, details)
    return Fatal(message, details)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds from now (it may be seconds or an HTTP date)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:  # "inf" and "1e12" are kept as said (the policy caps waits); "nan" is no answer
        return None if math.isnan(seconds) else max(0.0, seconds)
    try:
        from email.utils import parsedate_to_datetime  # rare: most send seconds

        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def failure_trace(exc: Exception, error: ToolError) -> str:
    """Where the failure happened, for the dead letter: the stack and the classified
    error. Not the SDK exception's own text: it can hold a provider's response
    headers and body (cookies, request dumps)."""
    stack = "".join(traceback.format_tb(exc.__traceback__))
    raised = f"{type(exc).__module__}.{type(exc).__qualname__}"
    return (
        f"Traceback (most recent call last):\n{stack}{raised}\n"
        f"classified as {type(error).__name__}: {error.message}"
    )

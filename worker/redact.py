"""Keeps configured secrets out of everything the fleet writes down.

The fleet never puts credentials in task arguments, but an SDK's exception
text, a provider echoing a header, or an agent pasting a token into params
could still carry one. Every sink — the ledger, results, error messages and
log lines — passes through :func:`redact`, which replaces each configured
secret value with ``***``.
"""

from __future__ import annotations

import logging
from typing import Any

MASK = "***"


def _secrets() -> list[str]:
    from worker.settings import get_settings  # late: settings import is cheap but cyclic

    settings = get_settings()
    cached = _cache.get(id(settings))
    if cached is None:  # settings are read once per process: so are their secrets
        # Kept with the settings object, so its id cannot be reused while cached.
        cached = _cache[id(settings)] = (settings, settings.secret_values())
    return cached[1]


_cache: dict[int, tuple[object, list[str]]] = {}


def redact(text: str) -> str:
    """``text`` with every configured secret value masked."""
    for secret in _secrets():
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_json(value: Any) -> Any:
    """A copy of a JSON-shaped value with secrets masked in every string."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): redact_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_json(v) for v in value]
    return value


class RedactingFormatter(logging.Formatter):
    """Wraps a handler's formatter so the final line (traceback included) is redacted."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record))


def install_log_redaction(logger: logging.Logger) -> None:
    """Make every handler of ``logger`` redact what it writes (idempotent)."""
    for handler in logger.handlers:
        if not isinstance(handler.formatter, RedactingFormatter):
            handler.setFormatter(RedactingFormatter(handler.formatter))

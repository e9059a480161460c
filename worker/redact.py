"""Keeps secrets out of everything the fleet writes down or shows.

The fleet never puts its own credentials in task arguments, but an agent can
pass one (``http.request`` with an ``Authorization`` header), an SDK's
exception text can quote one, and a provider can echo one back. Two rules,
applied by every sink — the ledger (params, results, errors, dead letters),
the result backend, task events and Flower, log lines:

- **by value**: each configured secret (tokens, webhook keys, named HTTP
  credentials) is replaced with ``***`` wherever it appears;
- **by name**: the value of a sensitive name is masked — in JSON-shaped
  values the value of a sensitive key; in text a ``"name": "value"`` pair, a
  ``name=value`` or ``name: value`` (a query or form parameter, a header
  written out, a log line), an ``Authorization``-style ``Bearer ...`` or
  ``Basic ...`` credential, and a URL's userinfo (``https://user:pw@host``).
  Sensitive names (:data:`SENSITIVE_EXACT`, :data:`SENSITIVE_PARTS`: declared
  once, the text patterns are derived from them) are ``auth``, ``jwt`` and any
  name containing authorization, cookie, token, secret, password, api-key,
  signature, credentials, passphrase or private-key.

Masking by name keeps numbers, booleans and nulls (``max_tokens: 100`` is not
a credential) and masks strings and containers whole.

Every sink also gets text it can keep: a NUL character becomes U+FFFD, since
PostgreSQL stores none in text or JSONB (a call refused for one must still be
recorded, with its params, as a dead letter).
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any

MASK = "***"
NUL_REPLACEMENT = "\ufffd"

# Whole names only: "auth" is no part of "author".
SENSITIVE_EXACT = frozenset({"auth", "jwt"})
SENSITIVE_PARTS = (
    "authorization",  # and Proxy-Authorization, X-Authorization
    "cookie",  # and Set-Cookie
    "token",
    "secret",
    "password",
    "passwd",
    "api-key",
    "apikey",
    "signature",
    "credentials",  # not "credential": the http tools' param of that name holds a name
    "passphrase",
    "private-key",
    "privatekey",
)
# Headers whose value runs to the end of the line (Cookie: a=1; b=2).
_WHOLE_LINE = ("authorization", "cookie")


def _alternatives(names: tuple[str, ...] | frozenset[str], whole_word: bool) -> str:
    """A regex alternative per name, its ``-`` matching ``-``, ``_`` or nothing."""
    spelled = [name.replace("-", "[-_]?") for name in sorted(names)]
    if whole_word:
        spelled = [rf"(?<![\w-]){name}(?![\w-])" for name in spelled]
    return "|".join(spelled)


_NAME = f"{_alternatives(SENSITIVE_PARTS, False)}|{_alternatives(SENSITIVE_EXACT, True)}"
# "name": "value" or 'name': 'value' (JSON, Python reprs) with a sensitive name, and
# a (name, value) pair, of bytes too: (b'X-Api-Key', b'...') in an HTTP client's log.
_QUOTED_PAIR = re.compile(
    rf"""(?i)(["'])([^"'\n]{{0,64}}(?:{_NAME})[^"'\n]{{0,64}})\1(\s*[:=,]\s*b?)"""
    r"""(["'])(?:(?!\4)[^\\]|\\.)*\4"""
)
# A header written out as text, whose value has spaces: masked to the end of the line.
_SCHEME = r"(?:(?:bearer|basic|token|digest)\s+)?"  # kept: it says what kind was masked
_HEADER_LINE = re.compile(
    rf"(?im)([\w-]*(?:{_alternatives(_WHOLE_LINE, False)})\s*:[ \t]*{_SCHEME})[^\r\n]+"
)
# name=value or name: value — a query or form parameter, a field or header written out
# (a log line, a body). The name may be one part of a longer one (x-api-key,
# client_secret); the value runs to a separator. Quoted values are the pattern above's.
_PAIR = re.compile(
    rf"(?i)((?<![\w.-])[\w.-]*(?:{_NAME})[\w.-]*)(\s*[:=]\s*)(?![\s\"'{{\[])"
    rf"({_SCHEME})([^\s&,;'\"#]+)"
)
# An Authorization value on its own: "Bearer eyJ...", "Basic dXNlcjpw...", letters
# only included; the words that follow a scheme in prose ("Basic authentication
# failed") are kept.
_AUTH_SCHEME = re.compile(
    r"(Bearer|Basic)\s+(?!(?:authentication|authorization|realm)\b)[\w.~+/=-]{8,}", re.I
)
# A URL's userinfo: https://user:password@host, https://token@host.
_USERINFO = re.compile(r"://[^/?#\s@]+@")
# Cheap pre-check: text without a sensitive name or a userinfo needs no pattern work.
_ANY_NAME = re.compile(rf"(?i){_NAME}|bearer|basic|://[^/?#\s@]+@")


@functools.lru_cache(maxsize=4096)
def is_sensitive(name: str) -> bool:
    """Whether a header or field called ``name`` holds a credential."""
    normalized = name.lower().replace("_", "-")
    return normalized in SENSITIVE_EXACT or any(part in normalized for part in SENSITIVE_PARTS)


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
    """``text`` with configured secrets and sensitively named values masked (and NUL
    characters replaced)."""
    if "\x00" in text:
        text = text.replace("\x00", NUL_REPLACEMENT)
    for secret in _secrets():
        if secret in text:
            text = text.replace(secret, MASK)
    if _ANY_NAME.search(text) is None:
        return text
    text = _USERINFO.sub(f"://{MASK}@", text)
    text = _QUOTED_PAIR.sub(rf"\1\2\1\3\4{MASK}\4", text)
    text = _HEADER_LINE.sub(rf"\1{MASK}", text)
    text = _PAIR.sub(_masked_pair, text)
    return _AUTH_SCHEME.sub(rf"\1 {MASK}", text)


def _masked_pair(match: re.Match[str]) -> str:
    name, separator, scheme, value = match.groups()
    if value.startswith(MASK) or (value.isdigit() and len(value) < 8):
        return match.group(0)  # masked already; a count (max_tokens=100) is no credential
    return f"{name}{separator}{scheme}{MASK}"


def may_hold_secret(text: str) -> bool:
    """Whether ``text`` holds a configured secret or a sensitive name (a cheap check)."""
    return _ANY_NAME.search(text) is not None or any(s in text for s in _secrets())


def _maskable(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float):
        return False
    return value != MASK


def redact_json(value: Any) -> Any:
    """A copy of a JSON-shaped value: sensitive keys' values and secrets masked."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {
            redact(str(k)): MASK if is_sensitive(str(k)) and _maskable(v) else redact_json(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_json(v) for v in value]
    return value


def masked_fields(value: Any, path: str = "") -> list[str]:
    """Where ``value`` (stored params) holds a masked value: ``["headers.Authorization"]``.
    Such params cannot be sent again as they are: the original value is gone."""
    if isinstance(value, dict):
        found: list[str] = []
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            found.extend([here] if item == MASK else masked_fields(item, here))
        return found
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in masked_fields(item, f"{path}[{i}]")]
    # Anywhere in the text: a secret masked by value may sit inside a word or a path
    # (".../in/***/x"). A stray "***" of the caller's own reads as masked too: such a
    # run is kept as a dead letter to replay rather than sent on with a broken value.
    return [path or "(value)"] if isinstance(value, str) and MASK in value else []


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

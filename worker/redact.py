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
  once; every pattern's name is judged by :func:`is_sensitive`) are ``auth``,
  ``jwt`` and any name containing authorization, cookie, token, secret,
  password, api-key, signature, credentials, passphrase or private-key.

Masking by name keeps numbers, booleans and nulls (``max_tokens: 100`` is not
a credential) and masks strings and containers whole; in text it keeps a count
and, after a colon, a sentence (``token: Field required``).

Every sink also gets text it can keep: a NUL character becomes U+FFFD, since
PostgreSQL stores none in text or JSONB (a call refused for one must still be
recorded, with its params, as a dead letter).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
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


# "name": "value", 'name': 'value' (JSON, Python reprs) and a (name, value) pair, of
# bytes too: (b'X-Api-Key', b'...') in an HTTP client's debug log. The value's quote
# is looked ahead for, not taken: the next name may begin right there.
_QUOTED_NAME = re.compile(r"""(b?)(["'])([^"'\n]{1,128})\2(\s*[:=,]\s*b?)(?=["'])""")
_QUOTED_VALUE = {quote: re.compile(rf"{quote}(?:[^{quote}\\]|\\.)*{quote}") for quote in "\"'"}
# A header written out as text: its value (spaces and all) masked to the end of the line.
_SCHEME = r"(?:(?:bearer|basic|token|digest)\s+)?"  # kept: it says what kind was masked
_HEADER_LINE = re.compile(rf"(?im)(?<![\w-])([\w-]+)(\s*:[ \t]*)({_SCHEME})(?=[^\s])")
_LINE_VALUE = re.compile(r"[^\r\n]+")
# name=value or name: value — a query or form parameter, a field or header written out
# (a log line, a body). The value runs to a separator; quoted values are the pattern
# above's. Each match's name is judged by is_sensitive: the one list of names.
_PAIR = re.compile(rf"(?i)(?<![\w.-])([\w.-]+)(\s*[:=]\s*)(?![\s\"'{{\[])({_SCHEME})")
_PAIR_VALUE = re.compile(r"[^\s&,;'\"#]+")
# An Authorization value on its own: "Bearer eyJ...", "Basic dXNlcjpw...", letters
# only included; the words that follow a scheme in prose ("Basic authentication
# failed") are kept.
_AUTH_SCHEME = re.compile(
    r"(Bearer|Basic)\s+(?!(?:authentication|authorization|realm)\b)[\w.~+/=-]{8,}", re.I
)
# A URL's userinfo: https://user:password@host, https://token@host.
_USERINFO = re.compile(r"://[^/?#\s@]+@")
# Cheap pre-check: text that holds none of these (lower-cased) needs no name pattern.
# Plain substring tests: a regex of every alternative cost several times more.
_HINTS = tuple(
    {spelled for name in (*SENSITIVE_PARTS, *SENSITIVE_EXACT)
     for spelled in (name, name.replace("-", "_"), name.replace("-", ""))}
    | {"bearer", "basic"}
)  # fmt: skip


def _may_hold_name(text: str) -> bool:
    """Whether ``text`` may hold a sensitive name (a scheme word included)."""
    lowered = text.lower()
    return any(hint in lowered for hint in _HINTS)


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
    if "@" in text and "://" in text:
        text = _USERINFO.sub(f"://{MASK}@", text)
    if not _may_hold_name(text):
        return text
    text = _masked_quoted(text)
    text = _masked_values(_HEADER_LINE, _LINE_VALUE, text, _whole_line)
    text = _masked_values(_PAIR, _PAIR_VALUE, text, is_sensitive)
    return _AUTH_SCHEME.sub(rf"\1 {MASK}", text)


def _masked_quoted(text: str) -> str:
    """Quoted pairs with a sensitive name, their quoted value masked."""
    kept: list[str] = []
    done = 0
    for match in _QUOTED_NAME.finditer(text):
        start, end = match.span()
        if start < done or not is_sensitive(match.group(3)):
            continue
        if "," in match.group(4) and not _opens_pair(text, start):
            continue  # a comma separates a (name, value) pair only, not any two strings
        value = _QUOTED_VALUE[text[end]].match(text, end)
        if value is not None:
            kept += [text[done:end], text[end], MASK, text[end]]
            done = value.end()
    return "".join([*kept, text[done:]]) if kept else text


def _opens_pair(text: str, at: int) -> bool:
    """Whether the string at ``at`` is the first of a tuple or list: ``(`` or ``[``."""
    at -= 1
    while at >= 0 and text[at] in " \t":
        at -= 1
    return at >= 0 and text[at] in "(["


def _whole_line(name: str) -> bool:
    lowered = name.lower()
    return any(header in lowered for header in _WHOLE_LINE)


# A capitalized word and a space after "name:" begin a sentence, not a credential:
# the fleet's own messages name a field so ("token: Field required").
_PROSE = re.compile(r"[A-Z][a-z]{1,10} ")


def _no_credential(value: str, name: re.Match[str]) -> bool:
    """Whether the value after a sensitive name is none: masked already, a count
    (``max_tokens=100``), or, after a colon and no scheme word, prose."""
    if value.startswith(MASK) or (value.isdigit() and len(value) < 8):
        return True
    colon = ":" in name.group(2) and not name.group(3)
    return colon and _PROSE.match(name.string, name.end()) is not None


def _masked_values(
    name_pattern: re.Pattern[str],
    value_pattern: re.Pattern[str],
    text: str,
    sensitive: Callable[[str], bool],
) -> str:
    """Each ``name_pattern`` match (name, separator, scheme) with a ``sensitive`` name,
    the ``value_pattern`` after it masked. Values are matched only after a sensitive
    name: searching goes on right after each name, so a value may begin a pair of its
    own (``0: token: x``, ``a=token=x``) and the work stays linear in the text."""
    kept: list[str] = []
    done = searched = 0
    while (name := name_pattern.search(text, searched)) is not None:
        searched = name.end(2)  # not past a scheme word: "0: token = x" has a pair
        if not sensitive(name.group(1)):
            continue
        value = value_pattern.match(text, name.end())
        if value is None or _no_credential(value.group(), name):
            continue
        kept += [text[done : name.end()], MASK]
        done = searched = value.end()
    return "".join([*kept, text[done:]]) if kept else text


def may_hold_secret(text: str) -> bool:
    """Whether ``text`` holds a configured secret or a sensitive name (a cheap check)."""
    userinfo = "@" in text and _USERINFO.search(text) is not None
    return userinfo or _may_hold_name(text) or any(s in text for s in _secrets())


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

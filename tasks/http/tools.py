"""Generic HTTP tools: ``http.request`` and ``webhook.send`` (httpx, SSRF-guarded).

Both are agent-facing, so every URL goes through :class:`tasks.shared.safehttp.SafeHttp`.
Outcomes: 2xx/3xx succeed; 408, 429 and 5xx are retryable (``Retry-After``
honoured); any other 4xx is fatal. Response bodies are returned up to
``FLEET_HTTP_MAX_RESPONSE_BYTES`` (256 KiB by default) with ``truncated``
saying whether the rest was cut.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, model_validator

from tasks.http import DECLARATION
from tasks.http.secrets import HttpCredential, WebhookKey, standard_secret_bytes
from worker.errors import (
    BadParams,
    ToolError,
    Unavailable,
    internal,
    parse_retry_after,
    status_error,
)
from worker.runtime.catalog import Provider
from worker.runtime.context import current_call
from worker.runtime.params import params_config
from worker.runtime.sdk import lazy
from worker.settings import Settings, get_settings

if TYPE_CHECKING:
    from tasks.shared.safehttp import Fetched, SafeHttp

# Loaded by Provider.connect, not by reading the catalog (worker.runtime.sdk).
httpx = lazy("httpx")

Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
TEXT_TYPES = ("text/", "json", "xml", "javascript", "x-www-form-urlencoded", "yaml", "csv")
ERROR_BODY_CHARS = 200


def make_client(settings: Settings, credential: str) -> SafeHttp:
    from tasks.shared.safehttp import SafeHttp  # loaded with httpx (see the declaration)

    return SafeHttp(
        allowed_hosts=settings.http_allowed_hosts,
        timeout=settings.http_timeout_seconds,
        max_redirects=settings.http_max_redirects,
        max_bytes=settings.http_max_response_bytes,
    )


def map_error(exc: Exception) -> ToolError:
    """httpx failures that escaped the client's own handling."""
    if isinstance(exc, httpx.TimeoutException | httpx.TransportError):
        return Unavailable(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, httpx.InvalidURL | ValueError):
        return BadParams(f"invalid request: {exc}")
    return internal(exc, step="the call", before_call=False)


provider = Provider(DECLARATION, client=make_client, map_error=map_error)


CREDENTIAL_FIELD = Field(
    default=None,
    max_length=128,
    description="Name of a credential in FLEET_HTTP_CREDENTIALS: its header is added for the "
    "hosts it is meant for, so the token itself never passes through the agent.",
)


class HttpRequest(BaseModel):
    """Params of ``http.request``."""

    method: Method = Field(default="GET", description="HTTP method.")
    url: str = Field(min_length=1, max_length=8192, description="Absolute http(s) URL.")
    headers: dict[str, str] = Field(default_factory=dict, description="Request headers.")
    query: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Query-string parameters, added to the URL."
    )
    json_body: Any = Field(default=None, alias="json", description="A JSON body (sets the type).")
    body: str | None = Field(default=None, description="A raw text body (instead of json).")
    timeout: float | None = Field(
        default=None, gt=0, le=120, description="Seconds; defaults to FLEET_HTTP_TIMEOUT_SECONDS."
    )
    credential: str | None = CREDENTIAL_FIELD

    model_config = params_config(
        {"method": "GET", "url": "https://api.example.com/status"}, populate_by_name=True
    )

    @model_validator(mode="after")
    def _one_body(self) -> HttpRequest:
        if self.json_body is not None and self.body is not None:
            raise ValueError("give either json or body, not both")
        return self


class WebhookSend(BaseModel):
    """Params of ``webhook.send``."""

    url: str = Field(min_length=1, max_length=8192, description="The receiver's http(s) URL.")
    payload: dict[str, Any] = Field(description="The JSON object to deliver.")
    signing_key: str = Field(
        default="default",
        description="Name of the signing key in FLEET_WEBHOOK_SECRETS (its secrets and format).",
    )
    event: str | None = Field(default=None, max_length=128, description="X-Webhook-Event value.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers.")
    credential: str | None = CREDENTIAL_FIELD

    model_config = params_config(
        {"url": "https://hooks.example.com/in", "payload": {"event": "done"}}
    )


@provider.tool("http.request", writes=True, idempotent=False)
def request(client: SafeHttp, p: HttpRequest) -> dict[str, Any]:
    """Make an HTTP request to a public URL and return status, headers and body.
    The body comes back parsed as JSON when the response is JSON, as text when
    it is text, else base64. 408, 429 and 5xx are retried; other 4xx fail at once.
    """
    headers = dict(p.headers)
    content = None
    if p.json_body is not None:
        content = json.dumps(p.json_body).encode()
        headers.setdefault("Content-Type", "application/json")
    elif p.body is not None:
        content = p.body.encode()
    if p.timeout:
        client.timeout = p.timeout
    fetched = client.request(
        p.method,
        p.url,
        headers=headers,
        params=p.query,
        content=content,
        credential=_credential(p.credential, p.url, headers),
    )
    _raise_for_status(fetched)
    return {
        "status": fetched.status,
        "url": fetched.url,
        "headers": fetched.headers,
        **_decode_body(fetched),
        "truncated": fetched.truncated,
    }


@provider.tool("webhook.send", writes=True, idempotent=True)
def send_webhook(client: SafeHttp, p: WebhookSend) -> dict[str, Any]:
    """POST a JSON payload signed under a named key (Standard Webhooks by default).

    Headers: ``webhook-id`` (the run id, the same on every retry, so receivers can
    de-duplicate), ``webhook-timestamp`` (unix seconds of this attempt) and
    ``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, one
    signature per secret of the key. A key configured with the ``x-signature-256``
    format sends ``X-Signature-256: sha256=<hex HMAC of the body>`` instead.
    """
    keys = get_settings().webhook_secrets
    if p.signing_key not in keys:
        known = ", ".join(sorted(keys)) or "none configured"
        raise BadParams(
            f"unknown signing key {p.signing_key!r} in FLEET_WEBHOOK_SECRETS (known: {known})"
        )
    taken = sorted(h for h in p.headers if h.lower() in SIGNING_HEADERS)
    if taken:
        raise BadParams(f"webhook.send sets {', '.join(taken)} itself: do not pass it in headers")
    credential = _credential(p.credential, p.url, p.headers)
    body = json.dumps(p.payload, separators=(",", ":"), sort_keys=True).encode()
    delivery_id = current_call().run_id
    headers = {k: v for k, v in p.headers.items() if k.lower() != "content-type"}
    headers["Content-Type"] = "application/json"
    headers.update(sign(keys[p.signing_key], delivery_id, int(time.time()), body))
    if p.event:
        headers["X-Webhook-Event"] = p.event
    fetched = client.request("POST", p.url, headers=headers, content=body, credential=credential)
    _raise_for_status(fetched)
    return {"status": fetched.status, "delivery_id": delivery_id, **_decode_body(fetched)}


SIGNING_HEADERS = frozenset(
    {"webhook-id", "webhook-timestamp", "webhook-signature", "x-signature-256"}
    | {"x-webhook-id", "x-webhook-timestamp", "x-webhook-event"}
)


def sign(key: WebhookKey, delivery_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The signature headers of one attempt at delivering ``body``."""
    secrets = [secret.get_secret_value() for secret in key.secrets]
    if key.format == "x-signature-256":
        # One signature fits this header: the newest secret signs; the timestamp is unsigned.
        digest = hmac.new(secrets[0].encode(), body, hashlib.sha256).hexdigest()
        return {
            "X-Signature-256": f"sha256={digest}",
            "X-Webhook-Timestamp": str(timestamp),
            "X-Webhook-Id": delivery_id,
        }
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    signatures = (
        hmac.new(standard_secret_bytes(secret), signed, hashlib.sha256).digest()
        for secret in secrets
    )
    return {
        "webhook-id": delivery_id,
        "webhook-timestamp": str(timestamp),
        # Every secret of a key that rotates signs: a receiver holding either verifies.
        "webhook-signature": " ".join(f"v1,{base64.b64encode(s).decode()}" for s in signatures),
    }


def _credential(name: str | None, url: str, headers: dict[str, str]) -> HttpCredential | None:
    """The named credential, checked against the URL it is about to go to."""
    if name is None:
        return None
    credentials = get_settings().http_credentials
    credential = credentials.get(name)
    if credential is None:
        known = ", ".join(sorted(credentials)) or "none configured"
        raise BadParams(f"unknown credential {name!r} in FLEET_HTTP_CREDENTIALS (known: {known})")
    target = httpx.URL(url)
    if not credential.allows(target.host, "https"):
        allowed = ", ".join(credential.hosts)
        raise BadParams(f"credential {name!r} is not for {target.host!r} (only: {allowed})")
    if not credential.allows(target.host, target.scheme):
        raise BadParams(
            f"credential {name!r} goes over https only: {target.host!r} is not among its "
            "plain_http_hosts"
        )
    if any(header.lower() == credential.header.lower() for header in headers):
        raise BadParams(
            f"credential {name!r} sets the {credential.header} header itself: "
            "do not pass it in headers"
        )
    return credential


def _raise_for_status(fetched: Fetched) -> None:
    if fetched.status < 400:
        return
    snippet = " ".join(fetched.content[:ERROR_BODY_CHARS].decode("utf-8", "replace").split())
    raise status_error(
        fetched.status,
        f"HTTP {fetched.status} from {fetched.url}: {snippet}",
        retry_after=parse_retry_after(fetched.headers.get("retry-after")),
    )


def _decode_body(fetched: Fetched) -> dict[str, Any]:
    content_type = fetched.headers.get("content-type", "").lower()
    if not fetched.content:
        return {"body": None}
    if "json" in content_type and not fetched.truncated:
        try:
            return {"body": json.loads(fetched.content)}
        except ValueError:
            pass
    if any(t in content_type for t in TEXT_TYPES) or not content_type:
        return {"body": fetched.content.decode(fetched.encoding or "utf-8", "replace")}
    return {"body": base64.b64encode(fetched.content).decode(), "body_encoding": "base64"}

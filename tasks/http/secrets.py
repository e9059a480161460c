"""What the HTTP tools may send, as configured: named credentials and webhook signing keys.

The models behind ``FLEET_HTTP_CREDENTIALS`` and ``FLEET_WEBHOOK_SECRETS`` (settings
the declaration adds), with the rules of where a credential may go.
"""

from __future__ import annotations

import base64
import binascii
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

STANDARD_PREFIX = "whsec_"


class HttpCredential(BaseModel):
    """A named credential for the HTTP tools: one header, sent only to ``hosts``, over
    https unless a host is listed in ``plain_http_hosts``."""

    header: str = Field(default="Authorization", min_length=1, pattern=r"^[A-Za-z0-9-]+$")
    value: SecretStr
    hosts: list[str] = Field(
        default_factory=list,
        description="Hosts it may be sent to (*.example.com for subdomains); empty: any host.",
    )
    plain_http_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts it may be sent to over plain http:// (same patterns); none: https only.",
    )

    model_config = ConfigDict(extra="forbid")

    @field_validator("hosts", "plain_http_hosts")
    @classmethod
    def _lower(cls, hosts: list[str]) -> list[str]:
        return [host.strip().lower().rstrip(".") for host in hosts if host.strip()]

    def allows(self, host: str, scheme: str) -> bool:
        """Whether the credential may go to ``host`` over ``scheme``."""
        host = host.lower().rstrip(".")
        if scheme != "https" and not _host_in(host, self.plain_http_hosts):
            return False  # anyone on the path would read it
        return not self.hosts or _host_in(host, self.hosts)


def _host_in(host: str, patterns: list[str]) -> bool:
    return any(
        host == allowed or (allowed.startswith("*.") and host.endswith(allowed[1:]))
        for allowed in patterns
    )


class WebhookKey(BaseModel):
    """A signing key of ``webhook.send``: its secrets, newest first (several while a
    receiver rotates), and the signature format its receiver verifies."""

    secrets: list[SecretStr] = Field(min_length=1)
    format: Literal["standard", "x-signature-256"] = "standard"

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _standard_secrets(self) -> WebhookKey:
        if self.format == "standard":
            for secret in self.secrets:
                standard_secret_bytes(secret.get_secret_value())
        return self


def standard_secret_bytes(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: ``whsec_`` then base64."""
    encoded = secret.removeprefix(STANDARD_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        key = b""
    if not secret.startswith(STANDARD_PREFIX) or not key:
        # Never the value itself: this message can reach a log.
        raise ValueError(
            'a Standard Webhooks secret is "whsec_" followed by base64 (a receiver that '
            'verifies X-Signature-256 takes {"secrets": [...], "format": "x-signature-256"})'
        )
    return key


def webhook_keys(value: object) -> object:
    """``FLEET_WEBHOOK_SECRETS`` as keys: a secret, or a list of them, stands for its key."""
    if not isinstance(value, dict):
        return value
    return {
        name: {"secrets": [key] if isinstance(key, str) else key}
        if isinstance(key, str | list)
        else key
        for name, key in value.items()
    }

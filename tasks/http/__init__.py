"""Generic HTTP: ``http.request`` and ``webhook.send`` (httpx, SSRF-guarded). The
declaration and the settings; the tools are in ``tools``, the models of named
credentials and signing keys in ``secrets``."""

from __future__ import annotations

import base64
import json
import secrets as random
from typing import Any

from pydantic import BaseModel, Field, field_validator

from tasks.http.secrets import HttpCredential, WebhookKey, webhook_keys
from worker.providers import Declaration, Demo, HostList


class HttpSettings(BaseModel):
    """What the HTTP tools may reach and send (``FLEET_`` names)."""

    http_allowed_hosts: HostList = Field(default_factory=list)
    http_max_response_bytes: int = 262_144
    http_timeout_seconds: float = 30.0
    http_max_redirects: int = 5
    webhook_secrets: dict[str, WebhookKey] = Field(
        default_factory=dict,
        description='JSON object: {"name": "whsec_...", "rotating": ["whsec_new", "whsec_old"],'
        ' "legacy": {"secrets": ["..."], "format": "x-signature-256"}}',
    )
    http_credentials: dict[str, HttpCredential] = Field(
        default_factory=dict,
        description='JSON object: {"name": {"header": "Authorization", "value": "Bearer ...",'
        ' "hosts": ["api.example.com"]}}; agents pass the name, never the value.',
    )

    @field_validator("webhook_secrets", mode="before")
    @classmethod
    def _webhook_keys(cls, value: object) -> object:
        return webhook_keys(value)


def _demo_key(settings: Any) -> dict[str, str]:
    """webhook.send needs a signing key; a demo fleet makes one up (never shown)."""
    if settings.webhook_secrets:
        return {}
    key = {"default": "whsec_" + base64.b64encode(random.token_bytes(32)).decode()}
    return {"FLEET_WEBHOOK_SECRETS": json.dumps(key)}


# The guarded client is built on httpx: a worker loads both before its pool starts
# (measured: importing it in the first calls' threads instead cost ~9% of the
# throughput of four workers sharing two cores).
DECLARATION = Declaration(
    "http",
    title="HTTP, webhooks",
    prefixes=("http.", "webhook."),
    settings=HttpSettings,
    sdk=("httpx", "tasks.shared.safehttp"),
    demo=Demo(_demo_key, "Demo webhook signing key 'default' (FLEET_WEBHOOK_SECRETS): random"),
)

"""Slack's client (slack_sdk's ``WebClient``) and what tools, syncs and channel lookups
share about calling it: the client factory, the history scope, the doctor probe.

The client is built from ``SLACK_BOT_TOKEN`` / ``SLACK_API_URL`` with the SDK's
own retry handlers off: waiting is the fleet's job, a worker never sleeps in
an SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tasks.shared.clients import per_thread, require
from tasks.slack import DECLARATION
from tasks.slack.errors import map_error
from worker.runtime.catalog import Provider
from worker.runtime.sdk import lazy
from worker.settings import Settings

if TYPE_CHECKING:
    from slack_sdk import WebClient

# Loaded by Provider.connect, not by reading the catalog (worker.runtime.sdk).
slack_sdk = lazy("slack_sdk")

LIMITS = DECLARATION.limits
# Rate scopes: one per Web API tier, per workspace (see the declaration's limits).
TIER1_HISTORY = "slack-tier1:{credential}:conversations.history"


@per_thread
def make_client(settings: Settings, credential: str) -> WebClient:
    require(settings.slack_bot_token, "SLACK_BOT_TOKEN", credential)
    assert settings.slack_bot_token is not None
    return slack_sdk.WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        # Kept a float (the SDK says int, urllib takes floats): int() would turn a
        # sub-second setting into 0, a non-blocking socket that fails every call.
        timeout=settings.provider_timeout_seconds,  # type: ignore[arg-type]
        retry_handlers=[],
    )


def probe(client: WebClient, settings: Settings) -> dict[str, Any]:
    """One ``auth.test`` (Tier 4, any token may call it), for `fleet doctor`."""
    who = client.auth_test()
    bot = f", bot {who['bot_id']}" if who.get("bot_id") else ""
    return {
        "acts_as": f"{who['user']} ({who['user_id']}{bot}) in {who['team']} ({who['url']})",
        # Slack publishes tiers, not a budget per token: these are the fleet's pacing.
        "limits": {kind: ", ".join(texts) for kind, texts in LIMITS.items()},
    }


provider = Provider(DECLARATION, client=make_client, map_error=map_error, probe=probe)

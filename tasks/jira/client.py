"""Jira's client (the ``jira`` library) and what tools and syncs share about calling it:
the client factory, the rate scopes, the doctor probe.

The client is built from ``JIRA_BASE_URL`` / ``JIRA_USERNAME`` / ``JIRA_API_TOKEN``
(basic auth) with the library's ResilientSession retries off, so it never
sleeps in a worker: waiting is the fleet's job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tasks.jira import DECLARATION
from tasks.jira.errors import map_error
from tasks.shared.clients import per_thread, require
from worker.runtime.catalog import Provider
from worker.runtime.sdk import lazy
from worker.settings import Settings

if TYPE_CHECKING:
    from jira import JIRA

# Loaded by Provider.connect, not by reading the catalog (worker.runtime.sdk).
jira_sdk = lazy("jira")


# One rate scope per credential (see the declaration's limits).
READ = WRITE = ["jira:{credential}"]
LIMITS = DECLARATION.limits


@per_thread
def make_client(settings: Settings, credential: str) -> JIRA:
    require(settings.jira_base_url, "JIRA_BASE_URL", credential)
    require(settings.jira_username, "JIRA_USERNAME", credential)
    require(settings.jira_api_token, "JIRA_API_TOKEN", credential)
    assert settings.jira_api_token is not None
    return jira_sdk.JIRA(
        server=str(settings.jira_base_url),
        basic_auth=(str(settings.jira_username), settings.jira_api_token.get_secret_value()),
        max_retries=0,  # ResilientSession would sleep up to 60 s on 429/503 inside the worker
        timeout=settings.provider_timeout_seconds,
        get_server_info=True,  # deploymentType decides /search (Server) vs /search/jql (Cloud)
    )


def probe(client: JIRA, settings: Settings) -> dict[str, Any]:
    """One ``GET /myself``, for `fleet doctor`; Jira reports no budget to a plain call."""
    me = client.myself()
    account = me.get("accountId") or me.get("name") or me.get("key")
    email = f", {me['emailAddress']}" if me.get("emailAddress") else ""
    return {
        "acts_as": f"{me.get('displayName')} ({account}{email}) at {settings.jira_base_url}",
        "limits": {kind: ", ".join(texts) for kind, texts in LIMITS.items()},
    }


provider = Provider(DECLARATION, client=make_client, map_error=map_error, probe=probe)

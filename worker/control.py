"""What a worker answers about itself over Celery's remote control (``inspect``).

An operator's shell rarely holds the fleet's credentials (a `fleet up` demo
gives them to its children only; a deployment keeps them in the workers'
secrets), so `fleet doctor` asks the workers how they are configured instead
of guessing from its own environment: ``fleet_configuration`` replies, per
provider, whether the worker holds its credentials and which API it talks to.
Never a secret: credentials are reported as present or not, and a URL's
password (and any configured secret in it) is masked.

Importing this module registers the command (a worker does at start, see
worker.signals); commands are looked up when a message arrives, so a late
registration is still heard.
"""

from __future__ import annotations

from typing import Any

from celery.worker.control import inspect_command

from worker.settings import Settings, get_settings

COMMAND = "fleet_configuration"


def providers() -> list[Any]:
    """The providers that hold credentials (those with a probe), in catalog order."""
    from worker.runtime.catalog import catalog

    seen: dict[str, Any] = {}
    for spec in catalog().values():
        if spec.provider.probe is not None:
            seen.setdefault(spec.provider.name, spec.provider)
    return list(seen.values())


def configuration(settings: Settings) -> dict[str, dict[str, Any]]:
    """Per provider: ``configured`` (its credentials are set) and ``api`` (its base URL,
    masked), as the setting its declaration names (``api_setting``) holds it."""
    from kombu.utils.url import maybe_sanitize_url

    from worker.redact import redact

    found = {}
    for provider in providers():
        where = provider.declaration.api_setting
        url = getattr(settings, where) if where else None
        found[provider.name] = {
            "configured": provider.configured(settings),
            "api": redact(maybe_sanitize_url(url) if "@" in url else url) if url else None,
        }
    return found


@inspect_command(name=COMMAND)
def fleet_configuration(state: Any, **_: Any) -> dict[str, Any]:
    """This worker's provider configuration (no secrets), for `fleet doctor`."""
    return {"providers": configuration(get_settings())}

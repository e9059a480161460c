"""Every knob of the fleet, read once from the environment (pydantic-settings).

Fleet-wide settings use the ``FLEET_`` prefix. Each provider declares its own
settings as a model (worker.providers); :class:`Settings` is the fleet's plus all
of those, so one object read once holds everything, and a provider's credentials
keep the names its own tooling uses. Secrets are ``SecretStr`` so they never print
by accident, and :meth:`Settings.secret_values` lists every one for the redactor.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker.providers import HostList, declarations
from worker.rate_limits import parse_limit

DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/toolfleet"
MIN_TOKEN_CHARS = 16


class FleetSettings(BaseSettings):
    """The fleet's own configuration (the providers' join it in :class:`Settings`)."""

    model_config = SettingsConfigDict(
        env_prefix="FLEET_",
        env_file=None,
        extra="ignore",
        populate_by_name=True,
        hide_input_in_errors=True,  # a refused value may be a secret: never echo it
    )

    # --- infrastructure -------------------------------------------------
    broker_url: str = DEFAULT_BROKER_URL
    result_backend: str | None = Field(
        default=None, description="Celery result backend; defaults to the broker URL."
    )
    result_expires_seconds: int = 86_400
    database_url: str = DEFAULT_DATABASE_URL
    visibility_timeout_seconds: int = Field(
        default=3600,
        description="Redis visibility timeout: the last resort for an unacked message.",
    )
    heartbeat_timeout_seconds: float = Field(
        default=30.0,
        ge=3,
        description="A worker silent this long is dead: the living requeue what it held.",
    )
    lost_grace_seconds: float = Field(
        default=120.0,
        ge=5,
        description="A waiting run untouched this long and held nowhere in Redis is lost.",
    )
    lost_check_seconds: float = Field(
        default=60.0, gt=0, description="How often beat looks for runs the broker lost."
    )
    max_redeliveries: int = Field(
        default=3, description="Executions lost to a dying worker before the run is dead."
    )

    # --- retry policy (one policy, overridable per tool) -----------------
    retry_max_attempts: int = Field(default=5, ge=1)
    retry_base_seconds: float = Field(default=1.0, gt=0)
    retry_cap_seconds: float = Field(default=600.0, gt=0)
    park_max_seconds: float = Field(
        default=300.0, gt=0, description="Longest single park/countdown before re-checking."
    )
    max_wait_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="Longest a run waits for a provider (Retry-After, a rate-limit reset): "
        "past it the run is dead as RateLimited, with the provider's value.",
    )
    duplicate_wait_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="Longest a call waits for the run holding its idempotency key to finish.",
    )

    # --- rate governor (limits shared by the whole fleet) -------------------
    rate_limits: dict[str, list[str]] = Field(
        default_factory=dict,
        description="JSON: a scope kind's limits, replacing the provider's defaults, e.g. "
        '{"<kind>-write": ["40/m burst 5", "400/h"], "<kind>": ["5/s burst 10"]}',
    )
    circuit_failures: int = Field(
        default=5, ge=1, description="Consecutive unavailable outcomes that open a circuit."
    )
    circuit_cooldown_seconds: float = Field(
        default=30.0, gt=0, description="How long an open circuit parks calls before a probe."
    )

    # --- syncs -------------------------------------------------------------
    syncs: list[dict[str, Any]] = Field(
        default_factory=list, description="JSON list of sync entries (see the README's Syncs)."
    )
    syncs_file: str | None = Field(
        default=None, description="A YAML or JSON file holding the sync entries instead."
    )
    sync_lookback_seconds: float = Field(
        default=300.0, ge=0, description="Each run re-reads this much before its cursor."
    )
    sync_lease_seconds: float = Field(
        default=120.0, gt=0, description="A run's hold on its sync, renewed after every page."
    )
    sync_failures_alert: int = Field(
        default=3, ge=1, description="Failed attempts in a row that flag a sync as failing."
    )

    # --- completion events ----------------------------------------------------
    events_max_len: int = Field(
        default=100_000, ge=100, description="Events the stream keeps (approximately)."
    )
    events_interim: bool = Field(
        default=False, description="Also publish retrying and parked, not only final outcomes."
    )

    # --- workers ---------------------------------------------------------
    worker_pool: str = "threads"
    worker_concurrency: int = 16
    flower_port: int = 5555
    flower_address: str = "127.0.0.1"
    metrics_port: int = Field(default=9808, description="Where `fleet metrics` serves /metrics.")
    metrics_address: str = Field(
        default="127.0.0.1", description="`fleet metrics`' address (0.0.0.0 in a container)."
    )
    flower_basic_auth: SecretStr | None = Field(
        default=None, description="user:password; without it the API is open on loopback only."
    )

    # --- MCP server (`fleet mcp`) ---------------------------------------------
    mcp_port: int = Field(default=8808, description="`fleet mcp --http`'s port.")
    mcp_address: str = Field(
        default="127.0.0.1",
        description="`fleet mcp --http`'s address; beyond loopback needs a token.",
    )
    mcp_token: SecretStr | None = Field(
        default=None, description="Bearer token every Streamable HTTP request must carry."
    )
    mcp_wait_seconds: float = Field(
        default=30.0, ge=0, description="How long tools/call waits before answering with a run id."
    )
    mcp_max_waits: int = Field(
        default=32,
        ge=1,
        description="Long waits `fleet mcp` holds at once, of each kind (calls, event polls).",
    )
    mcp_allowed_hosts: HostList = Field(
        default_factory=list, description="More Host values `fleet mcp --http` answers."
    )
    mcp_allowed_origins: HostList = Field(
        default_factory=list, description="Origins of browser pages allowed to call it."
    )

    # --- providers ---------------------------------------------------------
    simulator_port: int = Field(
        default=8900, description="Where `fleet up` runs the provider simulator when needed."
    )
    provider_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Timeout of each SDK call to a provider."
    )
    provider_deadline_seconds: float = Field(
        default=120.0,
        gt=0,
        description="Longest one provider request may take in all (a server that drips its "
        "answer byte by byte never trips a read timeout): its connection is then cut.",
    )

    @field_validator("mcp_token")
    @classmethod
    def _token_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None  # set but empty: no token
        if len(value.get_secret_value()) < MIN_TOKEN_CHARS:
            raise ValueError(f"FLEET_MCP_TOKEN: use at least {MIN_TOKEN_CHARS} characters")
        return value

    @field_validator("rate_limits", mode="before")
    @classmethod
    def _limits_as_lists(cls, value: object) -> object:
        if isinstance(value, dict):  # a single limit may be given as a string
            return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("rate_limits")
    @classmethod
    def _limits_parse(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for kind, texts in value.items():
            for text in texts:
                try:
                    parse_limit(text)
                except ValueError as exc:
                    raise ValueError(f"FLEET_RATE_LIMITS[{kind!r}]: {exc}") from None
        return value

    @property
    def effective_result_backend(self) -> str:
        return self.result_backend or self.broker_url

    def secret_values(self) -> list[str]:
        """Every configured secret, for redaction (longest first): each ``SecretStr``
        anywhere in the settings, the providers' included."""
        values = {secret.get_secret_value() for secret in _secrets(self)}
        # The services' passwords, which their URLs carry (shown masked anyway: userinfo).
        urls = (self.broker_url, self.effective_result_backend, self.database_url)
        values.update(password for url in urls if (password := urlsplit(url).password))
        # Very short values would redact ordinary words; nobody uses them as secrets.
        return sorted((v for v in values if len(v) >= 6), key=len, reverse=True)


def _secrets(value: object) -> Iterator[SecretStr]:
    if isinstance(value, SecretStr):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secrets(getattr(value, name))
    elif isinstance(value, dict):
        for item in value.values():
            yield from _secrets(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _secrets(item)


class Settings(FleetSettings, *(d.settings for d in declarations() if d.settings)):  # type: ignore[misc]
    """The fleet's configuration, each provider's settings included. See the README's
    configuration table."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once; tests start processes with their own env)."""
    return Settings()

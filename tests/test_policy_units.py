"""Pure pieces of the policy: backoff, settings validation, error round-trips, redaction."""

from __future__ import annotations

import logging
import random

import pytest

from worker.errors import (
    BadParams,
    Conflict,
    Fatal,
    NotFound,
    RateLimited,
    Unauthorized,
    Unavailable,
    from_dict,
    status_error,
)
from worker.redact import RedactingFormatter, redact, redact_json
from worker.runtime.retry import RetryPolicy
from worker.settings import Settings

POLICY = RetryPolicy(max_attempts=5, base_seconds=1.0, cap_seconds=600.0)


def test_backoff_envelope_doubles_and_is_capped():
    assert [POLICY.envelope(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert POLICY.envelope(20) == 600.0


def test_full_jitter_spreads_over_the_whole_envelope():
    rng = random.Random(7)
    delays = [POLICY.countdown(4, rng=rng) for _ in range(2000)]

    assert all(0 <= d <= 8.0 for d in delays)
    assert min(delays) < 0.5 and max(delays) > 7.5  # not a fixed or narrow delay


def test_retry_after_is_a_floor_never_shortened_by_jitter():
    rng = random.Random(1)
    assert all(POLICY.countdown(1, retry_after=30, rng=rng) >= 30 for _ in range(200))
    assert POLICY.countdown(1, retry_after=900, rng=rng) == 900  # beyond the cap too


def test_countdowns_may_outlast_the_visibility_timeout():
    # Delayed messages wait in Redis, not in a worker (worker.broker.delayed).
    settings = Settings(visibility_timeout_seconds=300, retry_cap_seconds=7200)

    assert settings.retry_cap_seconds > settings.visibility_timeout_seconds


def test_settings_read_allowed_hosts_and_webhook_secrets_from_the_environment(monkeypatch):
    monkeypatch.setenv("FLEET_HTTP_ALLOWED_HOSTS", " Localhost, api.internal ,")
    monkeypatch.setenv("FLEET_WEBHOOK_SECRETS", '{"ops": "whsec_czNjcjN0LXZhbHVl"}')

    settings = Settings()

    assert settings.http_allowed_hosts == ["localhost", "api.internal"]
    assert settings.webhook_secrets["ops"].secrets[0].get_secret_value() == "whsec_czNjcjN0LXZhbHVl"
    assert "czNjcjN0LXZhbHVl" not in repr(settings)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (429, RateLimited),
        (503, Unavailable),
        (408, Unavailable),
        (401, Unauthorized),
        (404, NotFound),
        (409, Conflict),
        (422, BadParams),
        (418, Fatal),
    ],
)
def test_http_statuses_map_into_the_taxonomy(status, kind):
    error = status_error(status, "x")

    assert type(error) is kind
    assert error.to_dict()["provider_status"] == status


def test_errors_survive_a_round_trip_through_their_stored_form():
    error = RateLimited("slow down", {"retry_after": 12.5, "provider_status": 429})

    rebuilt = from_dict(error.to_dict())

    assert type(rebuilt) is RateLimited
    assert rebuilt.retry_after == 12.5
    assert rebuilt.to_dict() == error.to_dict()
    assert type(RateLimited(*error.args)) is RateLimited  # Celery rebuilds from .args


def test_messages_are_truncated():
    assert len(Fatal("x" * 5000).message) == 500


def test_redaction_masks_configured_secrets_everywhere(monkeypatch):
    from tests.conftest import GITHUB_SECRET

    assert redact(f"Authorization: token {GITHUB_SECRET}") == "Authorization: token ***"
    assert redact_json({"a": [GITHUB_SECRET], GITHUB_SECRET: 1}) == {"a": ["***"], "***": 1}
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "got %s", (GITHUB_SECRET,), None)
    assert RedactingFormatter(logging.Formatter("%(message)s")).format(record) == "got ***"


def test_a_tool_may_override_the_policy_but_never_past_the_settings_cap():
    settings = Settings(retry_base_seconds=1, retry_cap_seconds=600, retry_max_attempts=5)

    policy = RetryPolicy.from_settings(settings, max_attempts=3, base_seconds=0.5, cap_seconds=7200)

    assert (policy.max_attempts, policy.base_seconds, policy.cap_seconds) == (3, 0.5, 600)
    assert RetryPolicy.from_settings(settings) == RetryPolicy(5, 1, 600)

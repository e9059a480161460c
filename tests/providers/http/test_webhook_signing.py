"""webhook.send signs in the Standard Webhooks format, checked by the `standardwebhooks`
package (a receiver nobody here wrote): the id, the timestamp and the body are all signed,
a stale delivery is refused, a key being rotated signs with every secret, and a retry
carries the same id."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from pydantic import ValidationError
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.conftest import LEGACY_WEBHOOK_SECRET, ROTATING_SECRETS, WEBHOOK_SECRET
from tests.support import Reply, wait_final
from worker.settings import Settings

pytestmark = pytest.mark.usefixtures("fleet_worker")

PAYLOAD = {"event": "deploy.finished", "n": 1, "note": "ünïcode"}


def _delivered(client, server, path: str, **params) -> tuple[object, object]:
    url = server.route(path, Reply(204))
    call = client.call("webhook.send", {"url": url, "payload": PAYLOAD, **params})
    call.get(timeout=20)
    [seen] = server.requests_to(path)
    return call, seen


def test_a_standard_webhooks_receiver_verifies_what_the_fleet_sends(client, server):
    call, seen = _delivered(client, server, "/std", event="deploy")

    assert Webhook(WEBHOOK_SECRET).verify(seen.body, seen.headers) == PAYLOAD
    assert seen.headers["webhook-id"] == call.id
    assert abs(int(seen.headers["webhook-timestamp"]) - time.time()) < 30
    assert seen.headers["webhook-signature"].startswith("v1,")
    assert "X-Signature-256" not in seen.headers
    assert seen.headers["X-Webhook-Event"] == "deploy"


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(
            lambda b, h: (b, {**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) - 1)}),
            id="timestamp",
        ),
        pytest.param(lambda b, h: (b.replace(b'"n":1', b'"n":2'), h), id="body"),
        pytest.param(lambda b, h: (b, {**h, "webhook-id": h["webhook-id"] + "x"}), id="id"),
    ],
)
def test_a_tampered_timestamp_body_or_id_fails_verification(client, server, tamper):
    _, seen = _delivered(client, server, "/tampered")
    body, headers = tamper(seen.body, {k.lower(): v for k, v in seen.headers.items()})

    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(WEBHOOK_SECRET).verify(body, headers)


def test_a_delivery_replayed_after_the_receivers_tolerance_is_refused(client, server):
    _, seen = _delivered(client, server, "/replayed")
    sent_at = datetime.fromtimestamp(int(seen.headers["webhook-timestamp"]), UTC)

    # The same bytes and headers, presented to the receiver six minutes later.
    later = time_machine.travel(sent_at + timedelta(minutes=6), tick=False)
    with later, pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(WEBHOOK_SECRET).verify(seen.body, seen.headers)
    with time_machine.travel(sent_at + timedelta(minutes=4), tick=False):
        assert Webhook(WEBHOOK_SECRET).verify(seen.body, seen.headers) == PAYLOAD


def test_a_key_being_rotated_signs_with_each_of_its_secrets(client, server):
    _, seen = _delivered(client, server, "/rotating", signing_key="rotating")

    assert len(seen.headers["webhook-signature"].split(" ")) == 2
    for secret in ROTATING_SECRETS:  # a receiver still on the old secret, one on the new
        assert Webhook(secret).verify(seen.body, seen.headers) == PAYLOAD
    with pytest.raises(WebhookVerificationError):
        Webhook(WEBHOOK_SECRET).verify(seen.body, seen.headers)


def test_every_try_of_a_run_carries_the_same_id_and_its_own_fresh_signature(client, server):
    url = server.route("/flaky-hook", Reply(503), Reply(200, {}))

    call = client.call("webhook.send", {"url": url, "payload": PAYLOAD})
    call.get(timeout=20)

    tries = server.requests_to("/flaky-hook")
    assert len(tries) == 2
    assert {seen.headers["webhook-id"] for seen in tries} == {call.id}
    assert wait_final(call.id)["result"]["delivery_id"] == call.id
    for seen in tries:
        assert Webhook(WEBHOOK_SECRET).verify(seen.body, seen.headers) == PAYLOAD


def test_the_x_signature_256_form_is_kept_for_a_key_configured_with_it(client, server):
    call, seen = _delivered(client, server, "/legacy", signing_key="legacy")

    expected = hmac.new(LEGACY_WEBHOOK_SECRET.encode(), seen.body, hashlib.sha256).hexdigest()
    assert seen.headers["X-Signature-256"] == f"sha256={expected}"
    assert seen.headers["X-Webhook-Id"] == call.id
    assert "webhook-signature" not in {k.lower() for k in seen.headers}


@pytest.mark.parametrize("header", ["webhook-signature", "Webhook-Timestamp", "X-Signature-256"])
def test_an_agent_cannot_set_the_signing_headers_itself(client, server, header):
    url = server.route("/forged", Reply(204))

    call = client.call("webhook.send", {"url": url, "payload": {}, "headers": {header: "v1,x"}})

    row = wait_final(call.id)
    assert row["error"]["type"] == "BadParams" and "itself" in row["error"]["message"]
    assert server.requests_to("/forged") == []


@pytest.mark.parametrize("secret", ["plain-never-shown", "whsec_never-shown!", "whsec_"])
def test_a_standard_key_must_be_a_whsec_secret_and_the_error_never_shows_it(secret):
    with pytest.raises(ValidationError, match="whsec_") as refused:
        Settings(webhook_secrets={"k": [WEBHOOK_SECRET, secret]})

    assert "never-shown" not in str(refused.value)
    assert WEBHOOK_SECRET not in str(refused.value)

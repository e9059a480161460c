"""http.request and webhook.send, called by name through a real worker."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import time

import pytest

from tests.conftest import WEBHOOK_SECRET
from tests.support import Reply, letters_of, wait_final
from worker.errors import NotFound, Unavailable

pytestmark = pytest.mark.usefixtures("fleet_worker")


def test_request_by_name_records_a_succeeded_run_with_its_result(client, server):
    url = server.route("/hello", Reply(200, {"greeting": "hi"}, {"X-Request-Id": "r-1"}))

    call = client.call(
        "http.request", {"url": url, "query": {"q": "x"}}, agent_task_id="agent-7", step_id="s1"
    )
    result = call.get(timeout=20)

    assert result["status"] == 200
    assert result["body"] == {"greeting": "hi"}
    assert result["headers"]["x-request-id"] == "r-1"
    assert result["truncated"] is False
    row = wait_final(call.id)
    assert row["status"] == "succeeded"
    assert row["result"] == result
    assert row["attempts"] == 1
    assert row["queue"] == "http"
    assert row["worker"].startswith("test@")
    assert (row["agent_task_id"], row["step_id"]) == ("agent-7", "s1")
    assert server.requests_to("/hello")[0].path == "/hello?q=x"


def test_503_then_200_succeeds_on_the_second_attempt(client, server):
    url = server.route("/flaky", Reply(503, {"error": "busy"}), Reply(200, {"ok": True}))

    call = client.call("http.request", {"url": url})

    assert call.get(timeout=20)["body"] == {"ok": True}
    row = wait_final(call.id)
    assert (row["status"], row["attempts"]) == ("succeeded", 2)
    assert len(server.requests_to("/flaky")) == 2
    assert letters_of(call.id) == []


def test_always_500_is_a_dead_letter_after_max_attempts_with_backoff(client, server):
    url = server.route("/down", Reply(500, {"error": "boom"}))

    call = client.call("http.request", {"url": url})

    with pytest.raises(Unavailable, match="HTTP 500"):
        call.get(timeout=40)
    row = wait_final(call.id)
    assert (row["status"], row["attempts"]) == ("dead", 5)
    seen = server.requests_to("/down")
    assert len(seen) == 5
    # Full jitter: the gap after attempt n lies in [0, min(cap, base * 2**(n-1))] + latency.
    gaps = [b.at - a.at for a, b in itertools.pairwise(seen)]
    envelopes = [min(2.0, 0.2 * 2**n) for n in range(4)]
    assert all(gap <= env + 1.0 for gap, env in zip(gaps, envelopes, strict=True)), gaps
    [letter] = letters_of(call.id)
    assert letter["error"]["type"] == "Unavailable"
    assert letter["error"]["retryable"] is True
    assert letter["error"]["attempts"] == 5
    assert letter["error"]["provider_status"] == 500
    assert letter["tool"] == "http.request"
    assert letter["params"] == {"url": url}


def test_retry_after_is_honoured_never_sooner(client, server):
    url = server.route(
        "/limited", Reply(429, {"error": "slow down"}, {"Retry-After": "2"}), Reply(200, {})
    )

    call = client.call("http.request", {"url": url})

    assert call.get(timeout=20)["status"] == 200
    first, second = server.requests_to("/limited")
    assert second.at - first.at >= 2.0
    assert wait_final(call.id)["attempts"] == 2


def test_404_is_a_dead_letter_after_exactly_one_attempt(client, server):
    url = server.route("/missing", Reply(404, {"message": "Not Found"}))

    call = client.call("http.request", {"url": url})

    with pytest.raises(NotFound, match="HTTP 404"):
        call.get(timeout=20)
    row = wait_final(call.id)
    assert (row["status"], row["attempts"]) == ("dead", 1)
    assert row["error"]["type"] == "NotFound"
    assert row["error"]["retryable"] is False
    assert len(server.requests_to("/missing")) == 1
    [letter] = letters_of(call.id)
    assert letter["state"] == "dead"


def test_response_bodies_are_truncated_at_the_documented_size(client, server):
    big = b"x" * (262_144 + 5000)
    url = server.route("/big", Reply(200, big, {"Content-Type": "text/plain"}))

    result = client.call("http.request", {"url": url}, wait=True, timeout=20)

    assert result["truncated"] is True
    assert len(result["body"]) == 262_144


def test_webhook_is_signed_with_hmac_sha256_of_id_timestamp_and_body(client, server):
    url = server.route("/hook", Reply(204))

    call = client.call("webhook.send", {"url": url, "payload": {"b": 2, "a": 1}, "event": "push"})
    result = call.get(timeout=20)

    [seen] = server.requests_to("/hook")
    timestamp = seen.headers["webhook-timestamp"]
    signed = f"{call.id}.{timestamp}.".encode() + seen.body
    key = base64.b64decode(WEBHOOK_SECRET.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert seen.headers["webhook-signature"] == f"v1,{expected}"
    assert abs(int(timestamp) - time.time()) < 30
    assert seen.headers["webhook-id"] == call.id == result["delivery_id"]
    assert seen.headers["X-Webhook-Event"] == "push"
    assert seen.body == b'{"a":1,"b":2}'
    assert result["status"] == 204


def test_webhook_with_an_unknown_secret_name_is_bad_params_without_a_request(client, server):
    url = server.route("/hook2", Reply(200))

    call = client.call("webhook.send", {"url": url, "payload": {}, "signing_key": "nope"})

    row = wait_final(call.id)
    assert row["error"]["type"] == "BadParams"
    assert "unknown signing key 'nope'" in row["error"]["message"]
    assert server.requests_to("/hook2") == []

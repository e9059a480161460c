"""An idempotency key makes a second call answer with the first run's outcome."""

from __future__ import annotations

import uuid

import pytest

from tests.support import Reply, wait_final
from worker.errors import NotFound

pytestmark = pytest.mark.usefixtures("fleet_worker")


def test_two_calls_with_one_key_make_one_request_and_share_the_result(client, server):
    url = server.route("/create", Reply(201, {"created": 1}), Reply(201, {"created": 2}))
    key = f"create-{uuid.uuid4()}"

    first = client.call("webhook.send", {"url": url, "payload": {"n": 1}}, idempotency_key=key)
    first_result = first.get(timeout=20)
    second = client.call("webhook.send", {"url": url, "payload": {"n": 1}}, idempotency_key=key)
    second_result = second.get(timeout=20)

    assert len(server.requests_to("/create")) == 1
    assert second_result == first_result
    assert first.id != second.id
    original, duplicate = wait_final(first.id), wait_final(second.id)
    assert original["idempotency_key"] == key
    assert duplicate["duplicate_of"] == first.id
    assert duplicate["status"] == "succeeded"
    assert duplicate["attempts"] == 0


def test_a_duplicate_arriving_while_the_first_runs_waits_for_it(client, server):
    url = server.route("/slow", Reply(200, {"done": True}, delay=1.5))
    key = f"slow-{uuid.uuid4()}"

    first = client.call("http.request", {"url": url}, idempotency_key=key)
    second = client.call("http.request", {"url": url}, idempotency_key=key)

    assert first.get(timeout=20) == second.get(timeout=20)
    assert len(server.requests_to("/slow")) == 1
    # Either message may start first on a many-threaded worker: whichever
    # claimed the key ran the request, the other waited for it.
    rows = {row["id"]: row for row in (wait_final(first.id), wait_final(second.id))}
    waited = [row for row in rows.values() if row["duplicate_of"]]
    assert len(waited) == 1
    (duplicate,) = waited
    assert duplicate["duplicate_of"] in rows
    assert duplicate["duplicate_of"] != duplicate["id"]
    assert rows[duplicate["duplicate_of"]]["duplicate_of"] is None
    assert duplicate["parks"] >= 1


def test_a_duplicate_of_a_dead_run_raises_the_same_error_without_a_request(client, server):
    url = server.route("/gone", Reply(404, {"message": "Not Found"}))
    key = f"gone-{uuid.uuid4()}"
    first = client.call("http.request", {"url": url}, idempotency_key=key)
    with pytest.raises(NotFound):
        first.get(timeout=20)

    second = client.call("http.request", {"url": url}, idempotency_key=key)

    with pytest.raises(NotFound, match="HTTP 404"):
        second.get(timeout=20)
    assert len(server.requests_to("/gone")) == 1

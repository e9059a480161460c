"""Every wait is bounded: a provider asking for longer than FLEET_MAX_WAIT_SECONDS gets
a dead letter saying so, not a run parked for centuries; garbled policy headers are
read as no number, never as a crash."""

from __future__ import annotations

import pytest
from celery import Celery

from tests.conftest import TEST_ENV
from tests.support import Reply, call_dead, wait_final
from worker.errors import RateLimited

pytestmark = pytest.mark.usefixtures("fleet_worker")


@pytest.mark.parametrize("retry_after", ["inf", "1e12", "7200"])
def test_a_retry_after_past_the_cap_is_a_dead_letter_with_the_value_asked(
    client, server, retry_after
):
    url = server.route(f"/later-{retry_after}", Reply(429, headers={"Retry-After": retry_after}))

    row = call_dead(client, "http.request", {"url": url}, RateLimited)

    assert row["attempts"] == 1  # not parked, not retried: told at once
    assert "longer than FLEET_MAX_WAIT_SECONDS (3600s)" in row["error"]["message"]
    assert float(row["error"]["asked_wait"]) == float(retry_after)
    assert len(server.requests_to(f"/later-{retry_after}")) == 1


def test_a_rate_limit_reset_centuries_away_is_a_dead_letter_and_closes_nothing_for_ever(
    client, sim
):
    sim.inject("github", path=r"^/repos/acme/api$", rate_limit="primary", retry_after=1e9)

    row = call_dead(client, "github.get_repository", {"repo": "acme/api"}, RateLimited)

    assert row["attempts"] == 1
    assert "FLEET_MAX_WAIT_SECONDS" in row["error"]["message"]
    from worker.runtime.governor.governor import closed_key, get_governor

    reopens_in = get_governor().redis.pttl(closed_key("github:default"))
    assert 0 < reopens_in <= 3600 * 1000  # the scope reopens within the cap


def test_a_garbled_reservation_header_is_no_reservation(client, server):
    url = server.route("/reserved", Reply(200, {"ok": True}))
    sender = Celery(broker=TEST_ENV["FLEET_BROKER_URL"], backend=TEST_ENV["FLEET_BROKER_URL"])

    run = sender.send_task(
        "http.request",
        kwargs={"url": url},
        queue="http",
        headers={"fleet_reserved": "soon", "fleet_not_before": "tomorrow"},
    )

    assert run.get(timeout=20)["body"] == {"ok": True}
    assert wait_final(run.id)["attempts"] == 1

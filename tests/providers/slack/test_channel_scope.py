"""Slack's per-channel budget is one per channel, however an agent spells it, and the
governor's scope state leaves Redis once idle.

``C0001``, ``#general`` and ``general`` are one channel: posts to them are paced as
one (``slack-channel:<credential>:C0001``), through a real worker against the
simulator. Every key the governor keeps has a TTL, its index of scopes included.
"""

from __future__ import annotations

import itertools
import time

import pytest
import redis

from tests.conftest import TEST_ENV
from tests.support import call_tool, wait_final
from worker.runtime.governor import Budget, Governor, parse_limit
from worker.runtime.governor.governor import (
    LEGACY_SCOPES_KEY,
    PREFIX,
    SCOPES_KEY,
    closed_key,
    learned_key,
    meter_key,
    tat_key,
)
from worker.runtime.governor.state import fleet_snapshot
from worker.settings import get_settings

pytestmark = pytest.mark.usefixtures("fleet_worker")

SPELLINGS = ["C0001", "#general", "general"]
GENERAL = "slack-channel:default:C0001"
SPACING = 1.5  # seconds between two posts to one channel, as the governor is told below


@pytest.fixture
def broker() -> redis.Redis:
    return redis.Redis.from_url(TEST_ENV["FLEET_BROKER_URL"])


def _channel_scopes(broker: redis.Redis) -> list[str]:
    rows = fleet_snapshot(broker)["scopes"]
    return [row["scope"] for row in rows if row["scope"].startswith("slack-channel:")]


def _posts(sim) -> list[dict]:
    return sim.requests(provider="slack", path=r"^chat\.postMessage$")


def test_three_spellings_of_one_channel_take_one_scope(client, sim, broker):
    for channel in SPELLINGS:
        assert call_tool(client, "slack.post_message", {"channel": channel, "text": "hi"})

    assert _channel_scopes(broker) == [GENERAL]
    assert [p["body"]["channel"] for p in _posts(sim)] == SPELLINGS  # sent as written


def test_three_spellings_of_one_channel_are_paced_as_one(client, sim, broker):
    # Given: the names are known (one post by name resolves them), then the governor
    # holds C0001 to one post every SPACING seconds, as if Slack had said so.
    call_tool(client, "slack.post_message", {"channel": "general", "text": "warm"})
    broker.delete(tat_key(GENERAL, 0), meter_key(GENERAL, 0))
    broker.hset(learned_key(GENERAL), mapping={"interval": SPACING, "burst": 1})
    broker.expire(learned_key(GENERAL), 60)
    sim.reset()

    # When: three agents post at once, each spelling the channel its own way.
    runs = [client.call("slack.post_message", {"channel": c, "text": c}) for c in SPELLINGS]
    for run in runs:
        run.get(timeout=30)

    # Then: Slack got them one SPACING apart; two of them waited their turn, parked.
    sent = sorted(p["timestamp"] for p in _posts(sim))
    assert len(sent) == 3
    gaps = [later - earlier for earlier, later in itertools.pairwise(sent)]
    assert min(gaps) >= SPACING * 0.95, gaps
    assert sorted(wait_final(run.id)["parks"] > 0 for run in runs) == [False, True, True]


def test_a_channel_name_is_listed_once_for_many_posts(client, sim, broker):
    for _ in range(3):
        call_tool(client, "slack.post_message", {"channel": "#random", "text": "again"})
        call_tool(client, "slack.post_message", {"channel": "engineering", "text": "again"})

    assert len(sim.requests(provider="slack", path=r"^conversations\.list$")) == 1
    assert set(_channel_scopes(broker)) == {
        "slack-channel:default:C0002",
        "slack-channel:default:C0003",
    }


def test_a_channel_created_after_the_listing_is_keyed_by_its_id_after_its_first_post(
    client, sim, broker
):
    call_tool(client, "slack.post_message", {"channel": "#general", "text": "lists names"})
    created = call_tool(client, "slack.create_channel", {"name": "incident-42"})

    call_tool(client, "slack.post_message", {"channel": "#incident-42", "text": "first"})
    broker.delete(SCOPES_KEY)
    call_tool(client, "slack.post_message", {"channel": "incident-42", "text": "second"})

    # The first post answered with the channel's ID; the second is keyed by it,
    # without listing the workspace again.
    assert _channel_scopes(broker) == [f"slack-channel:default:{created['id']}"]
    assert len(sim.requests(provider="slack", path=r"^conversations\.list$")) == 1


def test_a_name_slack_does_not_know_is_keyed_by_its_name_and_the_post_fails_as_slack_says(
    client, sim, broker
):
    run = client.call("slack.post_message", {"channel": "#no-such-channel", "text": "x"})

    with pytest.raises(Exception, match="channel_not_found"):
        run.get(timeout=20)
    assert _channel_scopes(broker) == ["slack-channel:default:no-such-channel"]


def test_every_governor_key_expires_once_idle(client, sim, broker):
    for channel in SPELLINGS:
        call_tool(client, "slack.post_message", {"channel": channel, "text": "ttl"})
    call_tool(client, "github.get_repository", {"repo": "octo/hello"})

    keys = list(broker.scan_iter(f"{PREFIX}*"))

    assert SCOPES_KEY.encode() in keys
    assert {key: broker.pttl(key) > 0 for key in keys} == dict.fromkeys(keys, True)
    # The index lists a scope until its state is gone: a minute past its use for the
    # Slack scopes (their buckets refill within a second under the tests' limits);
    # for GitHub's, until the reset its rate-limit headers announced (what it learned).
    until = {k.decode(): v for k, v in broker.zrange(SCOPES_KEY, 0, -1, withscores=True)}
    assert {s for s in until if s.startswith("slack-channel:")} == {GENERAL}
    assert max(v for s, v in until.items() if s.startswith("slack")) <= time.time() + 61
    learned_until = time.time() + broker.pttl(learned_key("github:default")) / 1000
    assert learned_until - 2 <= until["github:default"] <= learned_until + 1


def test_an_idle_scope_leaves_the_index_and_fleet_limits(client, sim, broker):
    call_tool(client, "slack.post_message", {"channel": "C0001", "text": "soon idle"})
    assert GENERAL in _channel_scopes(broker)

    # When its time in the index is up (moved closer here: a minute is a long test).
    broker.zadd(SCOPES_KEY, {GENERAL: time.time() - 1})

    assert GENERAL not in _channel_scopes(broker)
    call_tool(client, "slack.post_message", {"channel": "C0002", "text": "prunes"})
    assert broker.zscore(SCOPES_KEY, GENERAL) is None


def test_a_scope_closed_for_longer_stays_listed_as_long_and_no_longer(sim, broker):
    governor = Governor(broker, get_settings())
    grant = governor.acquire([Budget("test-kind:x", (parse_limit("10/s"),))], "test", run_id="r")

    governor.learn(grant, outcome="ok", retry_after=600)

    closed_for = broker.pttl(closed_key("test-kind:x")) / 1000
    listed_for = broker.zscore(SCOPES_KEY, "test-kind:x") - time.time()
    assert 599 < closed_for <= 600
    assert closed_for - 1 < listed_for <= closed_for + 1
    assert broker.ttl(SCOPES_KEY) >= closed_for - 1


def test_the_set_of_scopes_that_only_ever_grew_is_removed(sim, broker):
    broker.sadd(LEGACY_SCOPES_KEY, "slack-channel:default:#general")

    Governor(broker, get_settings()).acquire(
        [Budget("test-kind:y", (parse_limit("10/s"),))], "test", run_id="r"
    )

    assert not broker.exists(LEGACY_SCOPES_KEY)

"""The governor against a real Redis: budgets, reservations, learning, circuits, cost.

Each governor here stands for one worker process (its own Redis client); the
fleet-level behaviour through real workers is in test_governor_fleet.py.
"""

from __future__ import annotations

import threading
import time

import pytest
import redis

from tests.conftest import REDIS_HOST
from tests.support import RedisServer
from worker.runtime.governor import Budget, Governor, parse_limit
from worker.runtime.governor.limits import Limit, budgets
from worker.settings import Settings

GOVERNOR_DB = f"{REDIS_HOST}/9"


@pytest.fixture
def fleet_redis() -> redis.Redis:
    client = redis.Redis.from_url(GOVERNOR_DB)
    client.flushdb()
    return client


def worker_governor(**overrides: object) -> Governor:
    """A governor as one worker process has it: its own connection to the shared Redis."""
    settings = Settings(broker_url=GOVERNOR_DB, **overrides)
    return Governor(redis.Redis.from_url(GOVERNOR_DB), settings)


def budget(scope: str, *limits: str) -> Budget:
    return Budget(scope, tuple(parse_limit(text) for text in limits))


def evalsha_calls(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return sum(stats.get(name, {}).get("calls", 0) for name in ("cmdstat_evalsha", "cmdstat_eval"))


# ---- limits ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5000/h burst 100", Limit(5000, 3600, 100)),
        ("1/s", Limit(1, 1, 1)),
        ("20/10s burst 5", Limit(20, 10, 5)),
        (" 80 / m ", Limit(80, 60, 1)),
    ],
)
def test_limits_parse_from_their_text_form(text, expected):
    assert parse_limit(text) == expected


@pytest.mark.parametrize("text", ["5000", "5000/fortnight", "0/s", "-1/s", "10/s burst 0"])
def test_a_malformed_limit_is_refused_with_the_expected_form(text):
    with pytest.raises(ValueError, match=r"COUNT/PERIOD|positive"):
        parse_limit(text)


def test_settings_refuse_a_malformed_override_naming_the_kind():
    with pytest.raises(ValueError, match=r"FLEET_RATE_LIMITS\['jira'\]"):
        Settings(rate_limits={"jira": ["fast"]})


def test_overrides_replace_a_kinds_declared_limits_and_unknown_kinds_take_no_budget():
    found = budgets(
        ["github:default", "github-write:default", "custom:x"],
        {"github": ["5000/h burst 100"], "github-write": ["80/m", "500/h"]},
        {"github-write": ["10/m"]},
    )

    assert [(b.scope, [str(limit) for limit in b.limits]) for b in found] == [
        ("github:default", ["5000/h burst 100"]),
        ("github-write:default", ["10/m"]),
        ("custom:x", []),
    ]


# ---- budgets -----------------------------------------------------------------------


def test_a_burst_is_admitted_then_calls_reserve_paced_slots(fleet_redis):
    gov = worker_governor()
    scope = [budget("test:pace", "10/s burst 3")]

    grants = [gov.acquire(scope, "test", run_id=f"r{i}") for i in range(6)]

    assert [g.admitted for g in grants] == [True, True, True, False, False, False]
    waits = [g.wait for g in grants[3:]]
    assert all(g.reserved and g.reason == "budget: test:pace" for g in grants[3:])
    assert waits == pytest.approx([0.103, 0.206, 0.309], abs=0.03)  # 3% schedule slack


def test_every_scope_of_a_call_is_taken_together_and_the_tightest_sets_the_slot(fleet_redis):
    gov = worker_governor()
    wide, narrow = budget("test:wide", "100/s burst 100"), budget("test:narrow", "2/s burst 1")

    first = gov.acquire([wide, narrow], "test", run_id="a")
    second = gov.acquire([wide, narrow], "test", run_id="b")
    wide_only = gov.acquire([wide], "test", run_id="c")

    assert first.admitted
    assert second.wait == pytest.approx(0.5 * 1.03, abs=0.05)
    assert second.reason == "budget: test:narrow"
    assert wide_only.admitted  # the wide scope had room: one token each for a and b


def test_many_workers_together_stay_within_limit_plus_burst(fleet_redis):
    # 4 "workers" x 25 calls at once on 20/s burst 5: every call gets a slot; no
    # one-second window holds more than limit + burst; the slots run at the limit.
    slots: list[float] = []
    lock = threading.Lock()
    scope = [budget("test:fleet", "20/s burst 5")]

    def worker(n: int) -> None:
        gov = worker_governor()
        for i in range(25):
            grant = gov.acquire(scope, "test", run_id=f"w{n}-{i}")
            with lock:
                slots.append(time.time() + grant.wait)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    slots.sort()
    busiest = max(sum(1 for s in slots if start <= s < start + 1.0) for start in slots)
    rate = (len(slots) - 5) / (slots[-1] - slots[0])
    assert len(slots) == 100
    assert busiest <= 20 + 5
    assert rate == pytest.approx(20 / 1.03, rel=0.03)


def test_a_reservation_back_on_time_takes_no_second_token_but_respects_a_closed_scope(
    fleet_redis,
):
    gov = worker_governor()
    scope = [budget("test:once", "5/s")]
    gov.acquire(scope, "test", run_id="first")
    parked = gov.acquire(scope, "test", run_id="parked")
    time.sleep(parked.wait)

    back = gov.acquire(scope, "test", run_id="parked", reserved=True)
    next_one = gov.acquire(scope, "test", run_id="next")
    gov.learn(back, outcome="ok", retry_after=5)
    closed = gov.acquire(scope, "test", run_id="parked", reserved=True)

    assert parked.reserved
    assert parked.wait == pytest.approx(0.2 * 1.03, abs=0.02)
    assert back.admitted
    assert next_one.wait == pytest.approx(0.2 * 1.03, abs=0.03)  # one slot after back's
    assert not closed.admitted
    assert closed.wait == pytest.approx(5, abs=0.2)
    assert closed.reason == "closed: test:once"
    assert not closed.reserved


def test_a_reserved_call_back_late_behind_others_waits_for_the_meter(fleet_redis):
    # Three slots 0.1 s apart; the first comes back 0.15 s late, with the second:
    # letting both through together would break the pace the limit allows.
    gov = worker_governor()
    scope = [budget("test:meter", "10/s")]
    gov.acquire(scope, "test", run_id="now")
    first, second = (gov.acquire(scope, "test", run_id=r) for r in ("a", "b"))
    time.sleep(second.wait)  # a's slot has passed: a is late; b is on time

    late = gov.acquire(scope, "test", run_id="a", reserved=True)
    punctual = gov.acquire(scope, "test", run_id="b", reserved=True)

    assert first.reserved and second.reserved
    assert late.admitted
    assert not punctual.admitted
    assert punctual.reserved  # it keeps its slot's tokens: no new reservation
    assert punctual.wait == pytest.approx(0.1, abs=0.02)


# ---- learning ----------------------------------------------------------------------


def test_retry_after_seen_by_one_worker_closes_every_scope_of_the_call_for_all(fleet_redis):
    one, other = worker_governor(), worker_governor()
    scopes = [budget("test:core"), budget("test:write")]

    grant = one.acquire(scopes, "test", run_id="429")
    one.learn(grant, outcome="ok", retry_after=3)
    elsewhere = other.acquire([budget("test:write")], "test", run_id="next")

    assert grant.admitted
    assert elsewhere.wait == pytest.approx(3, abs=0.2)
    assert elsewhere.reason == "closed: test:write"


def test_remaining_zero_closes_the_first_scope_until_reset(fleet_redis):
    gov = worker_governor()
    core = budget("test:gh", "5000/h burst 100")
    reset = int(time.time()) + 4

    grant = gov.acquire([core], "test", run_id="last")
    gov.learn(
        grant, outcome="ok", headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
    )
    after = gov.acquire([core], "test", run_id="next")

    assert after.reason == "closed: test:gh"
    assert after.wait == pytest.approx(reset - time.time(), abs=0.3)


def test_a_provider_saying_less_is_left_paces_what_is_left_until_reset(fleet_redis):
    gov = worker_governor()
    core = budget("test:gh", "5000/h burst 100")  # we think: 100 at once, 0.72 s apart
    grant = gov.acquire([core], "test", run_id="seen")

    # The provider says: 2 left for the next 10 s.
    headers = {
        "x-ratelimit-remaining": "2",
        "x-ratelimit-limit": "60",
        "x-ratelimit-reset": str(time.time() + 10),
    }
    gov.learn(grant, outcome="ok", headers=headers)
    grants = [gov.acquire([core], "test", run_id=f"r{i}") for i in range(3)]

    assert [g.admitted for g in grants] == [True, True, False]  # the 2 left, at once
    assert 9 <= grants[2].wait <= 11  # the next one when the window resets


def test_a_provider_with_plenty_left_changes_nothing(fleet_redis):
    gov = worker_governor()
    core = budget("test:gh", "5000/h burst 100")
    grant = gov.acquire([core], "test", run_id="seen")
    headers = {"x-ratelimit-remaining": "4999", "x-ratelimit-reset": str(time.time() + 3600)}

    gov.learn(grant, outcome="ok", headers=headers)
    grants = [gov.acquire([core], "test", run_id=f"r{i}") for i in range(99)]

    assert all(g.admitted for g in grants)  # the burst is still ours


# ---- circuit -----------------------------------------------------------------------


def test_the_circuit_opens_after_consecutive_failures_probes_once_and_closes(fleet_redis):
    gov, other = worker_governor(circuit_failures=3, circuit_cooldown_seconds=1), worker_governor()
    scope = [budget("test:flaky")]
    for i in range(3):
        gov.learn(gov.acquire(scope, "flaky", run_id=f"f{i}"), outcome="unavailable")

    while_open = other.acquire(scope, "flaky", run_id="a")
    time.sleep(1.05)
    probe = other.acquire(scope, "flaky", run_id="probe")
    during_probe = gov.acquire(scope, "flaky", run_id="b")
    other.learn(probe, outcome="ok")
    after = gov.acquire(scope, "flaky", run_id="c")

    assert while_open.reason == "circuit open"
    assert while_open.wait == pytest.approx(1, abs=0.1)
    assert probe.admitted and probe.probe
    assert during_probe.reason == "circuit probing" and not during_probe.admitted
    assert after.admitted and not after.probe


def test_a_failed_probe_reopens_the_circuit_and_an_answer_resets_the_count(fleet_redis):
    gov = worker_governor(circuit_failures=2, circuit_cooldown_seconds=0.5)
    scope = [budget("test:down")]
    gov.learn(gov.acquire(scope, "down", run_id="x1"), outcome="unavailable")
    gov.learn(gov.acquire(scope, "down", run_id="ok"), outcome="ok")  # not consecutive
    gov.learn(gov.acquire(scope, "down", run_id="x2"), outcome="unavailable")
    still_closed = gov.acquire(scope, "down", run_id="y")
    gov.learn(still_closed, outcome="unavailable")  # the second in a row: opens
    time.sleep(0.55)
    probe = gov.acquire(scope, "down", run_id="probe")
    gov.learn(probe, outcome="unavailable")
    reopened = gov.acquire(scope, "down", run_id="z")

    assert still_closed.admitted
    assert probe.probe
    assert reopened.reason == "circuit open"


# ---- cost --------------------------------------------------------------------------


def test_an_admitted_call_costs_one_round_trip_or_two_when_there_is_something_to_learn(
    tmp_path,
):
    # INFO commandstats counts the whole server: a server of the test's own, so
    # nothing else on the machine adds to the count.
    server = RedisServer(tmp_path)
    try:
        _count_round_trips(server.client(), server.url)
    finally:
        server.stop()


def _count_round_trips(fleet_redis: redis.Redis, url: str) -> None:
    gov = Governor(redis.Redis.from_url(url), Settings(broker_url=url))
    scopes = [budget("test:a", "100/s burst 100"), budget("test:b", "100/s burst 100")]
    # A new server knows no script yet: each is loaded on its first use (once per server).
    warm = gov.acquire([budget("test:warm", "100/s")], "test", run_id="warm")
    gov.learn(warm, outcome="ok", headers={"x-ratelimit-remaining": "99", "x-ratelimit-reset": "1"})
    before = evalsha_calls(fleet_redis)

    quiet = gov.acquire(scopes, "test", run_id="quiet")
    gov.learn(quiet, outcome="ok")
    after_quiet = evalsha_calls(fleet_redis)
    told = gov.acquire(scopes, "test", run_id="told")
    gov.learn(
        told,
        outcome="ok",
        headers={"x-ratelimit-remaining": "99", "x-ratelimit-reset": str(time.time() + 60)},
    )

    assert after_quiet - before == 1
    assert evalsha_calls(fleet_redis) - after_quiet == 2

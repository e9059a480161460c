"""The result backend never lets a late state overwrite a final one.

A parked or retried run stores RETRY after re-publishing its message; the
re-published message can finish on another thread first. Stock Celery reads
the stored state, then writes: a SUCCESS landing in between was overwritten
and its waiting caller hung. On a redis-server of the test's own.
"""

from __future__ import annotations

import time
import uuid

import pytest
from celery import states

from tests.support import RedisServer
from worker.app import app
from worker.results import FleetResultBackend


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path)
    yield server
    server.stop()


def _backend(url: str) -> FleetResultBackend:
    return FleetResultBackend(app=app, url=url)


def test_a_final_state_landing_between_the_check_and_the_write_is_kept(redis_server):
    parking, finishing = _backend(redis_server.url), _backend(redis_server.url)
    task_id = str(uuid.uuid4())
    parking.store_result(task_id, None, states.RETRY)  # an earlier park
    check = parking.decode

    def finish_meanwhile(payload: bytes) -> object:
        # The re-published message finishes on another thread just as this one has
        # read the stored state and not yet written its RETRY.
        parking.decode = check
        finishing.store_result(task_id, {"done": True}, states.SUCCESS)
        return check(payload)

    parking.decode = finish_meanwhile
    parking.store_result(task_id, None, states.RETRY)

    assert parking.decode is check  # the interleaving happened
    assert parking.get_task_meta(task_id)["status"] == states.SUCCESS
    waiting = app.AsyncResult(task_id, backend=_backend(redis_server.url))
    assert waiting.get(timeout=5) == {"done": True}


@pytest.mark.parametrize("final", [states.SUCCESS, states.FAILURE, states.REVOKED])
def test_no_later_state_overwrites_a_final_one(redis_server, final):
    backend = _backend(redis_server.url)
    task_id = str(uuid.uuid4())
    outcome = {"done": True} if final == states.SUCCESS else ValueError("gone")
    backend.store_result(task_id, outcome, final)

    backend.store_result(task_id, None, states.RETRY)

    assert backend.get_task_meta(task_id)["status"] == final


def test_states_before_the_final_one_are_stored_and_announced(redis_server):
    backend = _backend(redis_server.url)
    task_id = str(uuid.uuid4())
    key = backend.get_key_for_task(task_id)
    listener = redis_server.client().pubsub(ignore_subscribe_messages=True)
    listener.subscribe(key)

    backend.store_result(task_id, None, states.RETRY)
    backend.store_result(task_id, {"done": True}, states.SUCCESS)

    heard: list[str] = []
    deadline = time.monotonic() + 5
    while len(heard) < 2 and time.monotonic() < deadline:
        if (message := listener.get_message(timeout=1)) is not None:  # None: the subscribe
            heard.append(backend.decode(message["data"])["status"])
    assert heard == [states.RETRY, states.SUCCESS]
    assert 0 < redis_server.client().ttl(key) <= app.conf.result_expires

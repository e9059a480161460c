"""``task-sent`` events leave a publisher in batches (worker.broker.sent), read by the
same receiver Flower uses, and a one-shot process still sends its own at exit.

Each test has a redis-server of its own: the publish count is server-wide, and no
worker may take the calls.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from tests.support import REPO, RedisServer, wait_for


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    yield server
    server.stop()


class SentEvents:
    """Celery's event receiver (what Flower runs) collecting ``task-sent`` ids."""

    def __init__(self, broker: RedisServer, expected: int) -> None:
        self.app = Celery(broker=broker.url)
        self.expected = expected
        self.ids: list[str] = []
        self.receiver: Any = None
        self.thread = threading.Thread(target=self._capture, daemon=True)
        self.thread.start()
        # Pub/sub keeps nothing: publish only once the receiver listens.
        wait_for(lambda: _listeners(broker), 10, 0.05, what="the receiver")

    def _capture(self) -> None:
        def sent(event: dict[str, Any]) -> None:
            self.ids.append(event["uuid"])
            if len(self.ids) >= self.expected:
                self.receiver.should_stop = True

        with self.app.connection_for_read() as connection:
            self.receiver = self.app.events.Receiver(connection, handlers={"task-sent": sent})
            # No wakeup: it would broadcast to workers, a PUBLISH of the receiver's own.
            self.receiver.capture(wakeup=False)

    def wait(self, timeout: float = 20) -> list[str]:
        self.thread.join(timeout)
        if self.receiver is not None:
            self.receiver.should_stop = True
        self.thread.join(5)
        return self.ids


def _listeners(broker: RedisServer) -> int:
    """Subscribers, by channel or by pattern (kombu's fanout uses either)."""
    client = broker.client()
    return len(client.pubsub_channels()) + int(client.execute_command("PUBSUB", "NUMPAT"))


def publish(broker: RedisServer, *args: str) -> list[str]:
    env = {**os.environ, "FLEET_BROKER_URL": broker.url}
    out = subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.split()


def publishes(broker: RedisServer) -> int:
    stats = broker.client().info("commandstats")
    return int(stats.get("cmdstat_publish", {}).get("calls", 0))


def test_a_burst_of_calls_sends_its_task_sent_events_in_a_few_publishes(ledger_db, broker):
    calls = 40
    events = SentEvents(broker, expected=calls)
    code = (
        "from worker.client import FleetClient\n"
        "client = FleetClient()\n"
        f"print(*(client.call('fleet.echo', {{'message': str(i)}}).id for i in range({calls})))\n"
    )

    ids = publish(broker, "-c", code)

    assert sorted(events.wait()) == sorted(ids)
    assert len(ids) == calls
    assert broker.client().llen("syncs") == calls  # every call published
    assert publishes(broker) <= calls / 4  # one per 50 ms of the burst, not one per call


def test_a_one_shot_fleet_call_sends_its_task_sent_event_as_it_exits(ledger_db, broker):
    events = SentEvents(broker, expected=1)

    ids = publish(broker, "-m", "worker.cli", "call", "fleet.echo", '{"message": "once"}')

    assert events.wait() == ids
    assert publishes(broker) == 1


def test_a_forked_child_sends_its_own_events_and_never_its_parents(broker):
    from worker.broker.sent import BatchedSentEvents

    events = SentEvents(broker, expected=2)
    dispatcher = BatchedSentEvents(app=Celery(broker=broker.url), flush_seconds=60)
    dispatcher.publish("task-sent", {"uuid": "parent"}, None)  # pending when it forks

    child = os.fork()
    if child == 0:  # the child: its own event, flushed now, then gone without exit hooks
        dispatcher.publish("task-sent", {"uuid": "child"}, None)
        os._exit(0 if dispatcher.flush_pending() == 1 else 1)
    _, status = os.waitpid(child, 0)
    sent_by_parent = dispatcher.flush_pending()

    assert os.waitstatus_to_exitcode(status) == 0
    assert sent_by_parent == 1
    assert sorted(events.wait()) == ["child", "parent"]
    assert publishes(broker) == 2

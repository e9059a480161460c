"""Chaos: live work is never executed twice, and no call holds a worker for ever.

Real workers on a broker of their own, with a visibility timeout of 2 s, a
provider deadline of 4 s and a duplicate wait of 3 s:

- one message delivered twice at once, to two workers: one provider call, one
  final write; the second delivery waits for the first instead of calling;
- a provider that drips its answer past the visibility timeout: the live call is
  not restored and run again by another worker;
- a provider that drips for longer than the deadline: the call is cut, retried,
  and the run ends;
- a call whose idempotency key is held by a run that never finishes: dead after
  the duplicate wait, naming the holder.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid

import pytest
from sqlalchemy import insert

from tests.support import OwnFleet, WorkerProcess, wait_final
from worker.client import FleetClient
from worker.errors import Conflict
from worker.ledger.db import engine
from worker.ledger.models import ToolRun

LIVE_ENV = {
    "FLEET_VISIBILITY_TIMEOUT_SECONDS": "2",
    "FLEET_PROVIDER_DEADLINE_SECONDS": "4",
    "FLEET_DUPLICATE_WAIT_SECONDS": "3",
    "FLEET_PARK_MAX_SECONDS": "1",
}
pytestmark = pytest.mark.slow


class DripServer:
    """An HTTP server on loopback that answers each request's body one byte at a time,
    ``drips[n]`` seconds in all for the n-th request (the last value repeats)."""

    def __init__(self, *drips: float) -> None:
        self.drips = list(drips)
        self.requests: list[float] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://localhost:{self.port}{path}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            index = len(self.requests)
            self.requests.append(time.monotonic())
            total = self.drips[min(index, len(self.drips) - 1)]
            body = b'{"n": ' + str(index).encode() + b', "pad": "' + b"." * 16 + b'"}'
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            conn.sendall(head.encode())
            for byte in body:
                time.sleep(total / len(body))
                conn.sendall(bytes([byte]))

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def live_client(ledger_db: str, own_fleet: OwnFleet) -> FleetClient:
    own_fleet.env.update(LIVE_ENV)
    return own_fleet.client


@pytest.fixture
def two_workers(live_client: FleetClient, own_fleet: OwnFleet) -> list[WorkerProcess]:
    workers = [
        own_fleet.worker(name, queues="http", concurrency=1, ready=False)
        for name in ("live-a", "live-b")
    ]
    for worker in workers:
        worker.wait_ready()
    return workers


def test_one_message_delivered_twice_at_once_calls_the_provider_once(
    live_client: FleetClient, two_workers: list[WorkerProcess]
) -> None:
    server = DripServer(1.5)
    run_id = str(uuid.uuid4())
    try:
        # Given the same message twice on the queue (a forward, a client retrying an
        # ambiguous publish), taken by two idle workers at once...
        for _ in range(2):
            live_client.app.send_task(
                "http.request", kwargs={"url": server.url("/twice")}, task_id=run_id
            )
        row = wait_final(run_id, timeout=30)
    finally:
        server.close()

    # ...the provider is called once and the run written final once.
    assert len(server.requests) == 1
    assert row["status"] == "succeeded" and row["result"]["body"]["n"] == 0
    assert [entry["event"] for entry in row["history"]] == ["succeeded"]
    assert (row["execution"], row["attempts"], row["redeliveries"]) == (1, 1, 0)
    logs = "".join(worker.text() for worker in two_workers)
    assert "is running already" in logs  # the other delivery waited instead of calling


def test_a_call_slower_than_the_visibility_timeout_is_not_delivered_again(
    live_client: FleetClient, two_workers: list[WorkerProcess]
) -> None:
    server = DripServer(3.5)  # past the 2 s visibility timeout, within the 4 s deadline
    try:
        run = live_client.call("http.request", {"url": server.url("/slow")})
        row = wait_final(run.id, timeout=30)
        time.sleep(2.5)  # a restore would have come by now
    finally:
        server.close()

    assert len(server.requests) == 1
    assert (row["status"], row["attempts"], row["redeliveries"]) == ("succeeded", 1, 0)
    # Not even delivered again (the fence would have kept a copy from calling, too).
    assert not any("is running already" in worker.text() for worker in two_workers)


def test_a_call_dripping_past_its_deadline_is_cut_and_retried(
    live_client: FleetClient, two_workers: list[WorkerProcess]
) -> None:
    server = DripServer(60.0, 0.0)  # the first answer would take a minute
    started = time.monotonic()
    try:
        run = live_client.call("http.request", {"url": server.url("/drip")})
        row = wait_final(run.id, timeout=30)
    finally:
        server.close()

    assert time.monotonic() - started < 15
    assert (row["status"], row["attempts"]) == ("succeeded", 2)
    assert row["result"]["body"]["n"] == 1
    (failed,) = [entry for entry in row["history"] if entry["event"] == "failed"]
    assert failed["error"]["type"] == "Unavailable"
    assert "FLEET_PROVIDER_DEADLINE_SECONDS" in failed["error"]["message"]
    assert 4 <= server.requests[1] - server.requests[0] < 10


def test_a_duplicate_of_a_key_whose_holder_never_finishes_dies_naming_it(
    live_client: FleetClient, two_workers: list[WorkerProcess]
) -> None:
    holder, key = f"holder-{uuid.uuid4()}", f"key-{uuid.uuid4()}"
    with engine().begin() as conn:  # a run holding the key, stuck for good
        conn.execute(
            insert(ToolRun).values(
                id=holder, tool="http.request", status="parked", idempotency_key=key
            )
        )

    run = live_client.call("http.request", {"url": "http://localhost:9/"}, idempotency_key=key)
    with pytest.raises(Conflict, match=f"run {holder} holds its idempotency key"):
        run.get(timeout=30)

    row = wait_final(run.id)
    assert row["status"] == "dead" and row["error"]["holder"] == holder
    assert row["parks"] >= 1  # it waited for the holder first

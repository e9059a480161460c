"""A generated witness secret, planted everywhere an agent or a provider can put
one, is found in none of the fleet's stores.

Each example draws a secret and a sensitive name, then makes real runs on the
session's worker that carry it in params (headers, query, URL userinfo, a form
body, a JSON body, an unvalidated message from a foreign client, invalid params),
in results (a server echoing it in JSON, in text, in a cookie), in errors (a
4xx body quoting it as a header, as JSON) and so in the worker's log lines. Then
it reads every store raw: the ledger (runs and dead letters), the result
backend, the Celery task events (what Flower shows), the completion events and
the worker's log. Each example also checks the secret did travel (the server
received it), so the test cannot pass because nothing was planted."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis
from celery import Celery
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import GITHUB_SECRET, TEST_DB, TEST_ENV
from tests.support import Reply, ScriptedServer, wait_final, wait_for
from worker.events import STREAM_KEY

pytestmark = pytest.mark.usefixtures("fleet_worker")
SECRET = st.from_regex(r"[A-Za-z][A-Za-z0-9_.~-]{15,39}", fullmatch=True)
NAMES = st.sampled_from(
    ["X-Api-Key", "X-Auth-Token", "Private-Key", "Passphrase", "Credentials", "Jwt", "Auth",
     "X-Client-Secret", "Refresh-Token", "Proxy-Authorization", "X-Hub-Signature-256"]
)  # fmt: skip
_example = itertools.count()


class EventTap:
    """Every Celery event on the test broker while it runs: what Flower would receive."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._app = Celery(broker=TEST_ENV["FLEET_BROKER_URL"], set_as_current=False)
        self._ready = threading.Event()
        self._receiver: Any = None
        self._thread = threading.Thread(target=self._capture, daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "the event tap did not start"

    def _capture(self) -> None:
        with self._app.connection_for_read() as conn:
            self._receiver = self._app.events.Receiver(conn, handlers={"*": self.events.append})
            self._ready.set()
            self._receiver.capture(limit=None, timeout=None, wakeup=False)

    def of(self, run_id: str) -> list[dict[str, Any]]:
        return [event for event in list(self.events) if event.get("uuid") == run_id]

    def close(self) -> None:
        self._receiver.should_stop = True
        self._thread.join(10)


@pytest.fixture(scope="module")
def tap() -> Iterator[EventTap]:
    events = EventTap()
    yield events
    events.close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    yield srv
    srv.close()


def _plant(client: Any, srv: ScriptedServer, secret: str, name: str) -> dict[str, str]:
    """The runs that carry ``secret``: their ids, by what each one plants."""
    n = next(_example)
    echo = srv.route(
        f"/ok-{n}",
        lambda seen: Reply(
            200,
            {"private_key": secret, name: seen.headers.get(name), "body": seen.body.decode()},
            headers={"Set-Cookie": f"sid={secret}; HttpOnly", name: secret},
        ),
    )
    text = srv.route(
        f"/text-{n}",
        Reply(200, f"refresh_token={secret}\nx-api-key: {secret}\n".encode(),
              headers={"Content-Type": "text/plain"}),
    )  # fmt: skip
    header_error = srv.route(
        f"/bad-{n}",
        Reply(400, f"Authorization: Bearer {secret} was refused".encode(),
              headers={"Content-Type": "text/plain"}),
    )  # fmt: skip
    json_error = srv.route(f"/unprocessable-{n}", Reply(422, {"error": {"passphrase": secret}}))
    userinfo = header_error.replace("http://", f"http://user:{secret}@")
    foreign = Celery(broker=TEST_ENV["FLEET_BROKER_URL"], set_as_current=False)
    calls = {
        "headers and query": client.call(
            "http.request",
            {
                "url": f"{echo}?access_token={secret}",
                "headers": {
                    "Authorization": f"Bearer {secret}",
                    name: secret,
                    "Cookie": f"sid={secret}",
                },
                "query": {name: secret},
            },
        ),
        "form body": client.call(
            "http.request", {"method": "POST", "url": text, "body": f"token={secret}&x=1"}
        ),
        "userinfo": client.call("http.request", {"url": userinfo}),
        "json body": client.call(
            "http.request",
            {
                "method": "POST",
                "url": json_error,
                "json": {
                    "client_secret": secret,
                    "credentials": {"password": secret},
                    "note": f"pasted {GITHUB_SECRET} by mistake",
                },
            },
        ),
        "foreign client": foreign.send_task(
            "http.request",
            kwargs={"url": echo, "headers": {"Proxy-Authorization": f"Basic {secret}"}},
            queue="http",
        ),
        "invalid params": foreign.send_task(
            "http.request", kwargs={"url": echo, "jwt": secret, name: secret}, queue="http"
        ),
    }
    return {what: call.id for what, call in calls.items()}


def _stores(run_ids: list[str], tap: EventTap, worker_log: str) -> dict[str, str]:
    """Every store's raw text for these runs."""
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={TEST_DB}") as conn:
        runs = conn.execute(
            "SELECT string_agg(t::text, E'\\n') FROM tool_runs t WHERE id = ANY(%s)", (run_ids,)
        ).fetchone()[0]
        letters = conn.execute(
            "SELECT string_agg(d::text, E'\\n') FROM dead_letters d WHERE run_id = ANY(%s)",
            (run_ids,),
        ).fetchone()[0]
    broker = redis.Redis.from_url(TEST_ENV["FLEET_BROKER_URL"])
    results = [broker.get(f"celery-task-meta-{run_id}") for run_id in run_ids]
    completions = [
        fields for _, fields in broker.xrange(STREAM_KEY) if fields.get(b"run_id", b"").decode()
        in run_ids
    ]  # fmt: skip
    return {
        "ledger runs": runs or "",
        "dead letters": letters or "",
        "result backend": "\n".join(r.decode() for r in results if r is not None),
        "task events": json.dumps([tap.of(run_id) for run_id in run_ids], default=str),
        "completion events": repr(completions),
        "worker log": worker_log,
    }


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(secret=SECRET, name=NAMES)
def test_a_planted_secret_is_in_no_store(client, receiver, tap, fleet_worker, secret, name):
    planted = _plant(client, receiver, secret, name)
    rows = {what: wait_final(run_id, timeout=40) for what, run_id in planted.items()}
    run_ids = list(planted.values())
    # The last events of a run follow its ledger row: wait until each run's final
    # event, its completion event and its log line are all there to be read.
    wait_for(
        lambda: all(
            {"task-succeeded", "task-failed"} & {e["type"] for e in tap.of(run_id)}
            for run_id in run_ids
        ),
        20,
        0.2,
        what="every run's final task event",
    )

    statuses = {what: row["status"] for what, row in rows.items()}
    assert statuses == {
        "headers and query": "succeeded", "form body": "succeeded", "userinfo": "dead",
        "json body": "dead", "foreign client": "succeeded", "invalid params": "dead",
    }  # fmt: skip
    # The secret did travel: to the provider, as the agent asked, and back.
    seen = receiver.seen
    assert any(request.headers.get("Authorization") == f"Bearer {secret}" for request in seen)
    assert any(f"token={secret}".encode() in request.body for request in seen)
    stores = _stores(run_ids, tap, fleet_worker.text())
    assert all(run_id in stores["worker log"] for run_id in run_ids)
    assert "task-failed" in stores["task events"] and "exception" in stores["task events"]
    assert all(run_id in stores["result backend"] for run_id in run_ids)
    for store, text in stores.items():
        assert secret not in text, f"the secret is in the {store}"
        assert GITHUB_SECRET not in text, f"a configured secret is in the {store}"
    assert "***" in stores["ledger runs"] and "***" in stores["result backend"]

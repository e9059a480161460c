"""Bad input gets a clear error and loses nothing: the client, the worker, the queue."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
import redis
from celery import Celery

from tests.conftest import TEST_ENV
from tests.support import Reply, letters_of, wait_final, wait_for
from worker import ledger
from worker.client import UnknownTool
from worker.errors import BadParams
from worker.runtime.params import MAX_CHARS, MAX_DEPTH

pytestmark = pytest.mark.usefixtures("fleet_worker")


@pytest.fixture
def broker() -> redis.Redis:
    return redis.Redis.from_url(TEST_ENV["FLEET_BROKER_URL"])


def _run_count() -> int:
    return len(ledger.list_runs(limit=100_000))


@pytest.mark.parametrize(
    ("params", "complaint"),
    [
        ({"method": "GET"}, "url: Field required"),
        ({"url": "http://localhost/x", "method": "FETCH"}, "method: Input should be 'GET'"),
        ({"url": "http://localhost/x", "json": {}, "body": "x"}, "either json or body"),
        ({"url": "http://localhost/x", "verbose": True}, "verbose: Extra inputs"),
    ],
)
def test_client_rejects_invalid_params_before_sending(client, broker, params, complaint):
    queued_before, runs_before = broker.llen("http"), _run_count()

    with pytest.raises(BadParams, match=complaint) as caught:
        client.call("http.request", params)

    assert caught.value.message.startswith("http.request: ")
    assert broker.llen("http") == queued_before
    assert _run_count() == runs_before


def _nested(levels: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"k": value}
    return value


@pytest.mark.parametrize(
    ("params", "complaint"),
    [
        ({"message": "a\x00b"}, "message: NUL characters are refused"),
        ({"data": {"k": [{"k\x00": 1}]}}, "data.k.0: NUL characters are refused in keys"),
        ({"data": _nested(MAX_DEPTH)}, f"nested deeper than {MAX_DEPTH} levels"),
        ({"data": {"big": "x" * MAX_CHARS}}, "params: larger than 1,000,000 characters"),
    ],
)
def test_fleet_wide_rules_refuse_params_the_tools_model_would_take(client, params, complaint):
    with pytest.raises(BadParams, match=complaint):
        client.validate("fleet.echo", params)


def test_fleet_wide_rules_take_params_up_to_their_bounds(client):
    # The params object is level 1, so data may hold MAX_DEPTH - 1 levels.
    assert client.validate("fleet.echo", {"data": _nested(MAX_DEPTH - 1)})
    assert client.validate("fleet.echo", {"data": {"big": "x" * (MAX_CHARS - 100)}})


def test_worker_dead_letters_params_with_a_nul_and_stores_them(client):
    # Regression: PostgreSQL stores no NUL in JSONB; the run was never recorded at all.
    result = client.app.send_task("fleet.echo", kwargs={"message": "a\x00b"})

    with pytest.raises(BadParams, match="message: NUL characters are refused"):
        result.get(timeout=20)
    assert wait_final(result.id)["status"] == "dead"
    [letter] = letters_of(result.id)
    assert letter["params"] == {"message": "a\ufffdb"}


def test_client_rejects_unknown_tool_names_with_suggestions(client, broker):
    queued = {q: broker.llen(q) for q in ("http", "syncs")}

    with pytest.raises(UnknownTool, match=r"unknown tool 'http.reqest'; did you mean http.request"):
        client.call("http.reqest", {"url": "http://localhost/"})

    assert {q: broker.llen(q) for q in queued} == queued


def test_worker_validates_raw_send_task_and_dead_letters_bad_params(client, server):
    url = server.route("/never", Reply(200))

    result = client.app.send_task("http.request", kwargs={"url": url, "method": "FETCH"})

    with pytest.raises(BadParams, match="method: Input should be"):
        result.get(timeout=20)
    row = wait_final(result.id)
    assert (row["status"], row["attempts"]) == ("dead", 0)
    [letter] = letters_of(result.id)
    assert letter["error"]["type"] == "BadParams"
    assert letter["params"] == {"url": url, "method": "FETCH"}
    assert server.requests_to("/never") == []


def test_positional_arguments_are_refused(client, server):
    url = server.route("/positional", Reply(200))

    result = client.app.send_task("http.request", args=["GET", url])

    with pytest.raises(BadParams, match="positional arguments are refused"):
        result.get(timeout=20)
    assert server.requests_to("/positional") == []


def test_unknown_task_name_sent_raw_is_a_dead_letter_with_suggestions(client):
    result = client.app.send_task("http.reqest", kwargs={"url": "http://localhost/"})

    row = wait_final(result.id)
    assert row["status"] == "dead"
    assert "unknown tool 'http.reqest'; did you mean http.request?" in row["error"]["message"]
    [letter] = letters_of(result.id)
    assert letter["params"] == {"url": "http://localhost/"}
    assert letter["queue"] == "http"


def _worker_still_serves(client, server) -> None:
    url = server.route("/alive", Reply(200, {"alive": True}))
    assert client.call("http.request", {"url": url}, wait=True, timeout=20)["body"] == {
        "alive": True
    }


def _letter_with_raw(fragment: str) -> dict:
    return wait_for(
        lambda: next(
            (x for x in ledger.list_letters(limit=50) if fragment in (x["raw_message"] or "")),
            None,
        ),
        what=f"a dead letter holding {fragment!r}",
    )


@pytest.mark.parametrize("garbage", ["not json {", '{"valid": "json", "but": "no envelope"}'])
def test_garbage_on_a_queue_is_kept_as_a_dead_letter_and_the_worker_lives(
    client, server, broker, fleet_worker, garbage
):
    marker = uuid.uuid4().hex
    item = garbage.replace("json", f"json-{marker}")

    broker.lpush("http", item)

    letter = _letter_with_raw(marker)
    assert letter["raw_message"] == item
    assert letter["error"]["type"] == "BadParams"
    assert "unreadable message" in letter["error"]["message"]
    assert fleet_worker.alive()
    _worker_still_serves(client, server)


def _captured_envelope(broker: redis.Redis, url: str = "http://localhost/") -> dict:
    """A genuine Celery envelope, published to a queue no worker reads."""
    sender = Celery(broker=TEST_ENV["FLEET_BROKER_URL"])
    sender.send_task("http.request", kwargs={"url": url}, queue="capture")
    raw = broker.rpop("capture")
    assert raw is not None
    return json.loads(raw)


def test_envelope_whose_body_is_not_json_is_kept_and_the_worker_lives(
    client, server, broker, fleet_worker
):
    envelope = _captured_envelope(broker)
    run_id = envelope["headers"]["id"]
    envelope["body"] = base64.b64encode(b"this is not json").decode()

    broker.lpush("http", json.dumps(envelope))

    row = wait_final(run_id)
    assert row["status"] == "dead"
    [letter] = letters_of(run_id)
    assert "this is not json" in letter["raw_message"]
    assert fleet_worker.alive()
    _worker_still_serves(client, server)


def test_pickle_message_is_refused_kept_and_never_executed(client, server, broker, fleet_worker):
    url = server.route("/pickled", Reply(200))
    envelope = _captured_envelope(broker, url)
    run_id = envelope["headers"]["id"]
    envelope["content-type"] = "application/x-python-serialize"

    broker.lpush("http", json.dumps(envelope))

    row = wait_final(run_id)
    assert row["status"] == "dead"
    assert "ContentDisallowed" in row["error"]["message"] or "pickle" in row["error"]["message"]
    assert server.requests_to("/pickled") == []
    assert fleet_worker.alive()


# ---- fields the ledger cannot keep as they are ---------------------------------------


def _sent_raw(broker: redis.Redis, task: str, task_id: str, headers: dict) -> None:
    """A Celery envelope as any client could publish it, straight onto the syncs queue."""
    envelope = _captured_envelope(broker)
    envelope["headers"].update({"task": task, "id": task_id, **headers})
    broker.lpush("syncs", json.dumps(envelope))


@pytest.mark.parametrize(
    ("task", "task_id"),
    [
        ("github." + "x" * 200, None),  # unknown, and longer than tool_runs.tool
        ("github.list_issuez", "id-" + "9" * 100),  # an id longer than tool_runs.id
    ],
)
def test_a_message_whose_fields_overflow_the_ledger_is_kept_and_the_worker_lives(
    client, server, broker, fleet_worker, task, task_id
):
    marker = uuid.uuid4().hex
    task_id = task_id or f"run-{marker}"
    _sent_raw(broker, task, task_id, {"agent_task_id": f"{marker}-" + "a" * 300})

    letter = _letter_with_raw(marker)
    assert letter["error"]["type"] == "NotFound"
    assert len(letter["tool"]) <= 128 and len(letter["run_id"]) <= 64
    raw = json.loads(letter["raw_message"])  # kept whole: every original value is there
    assert (raw["headers"]["task"], raw["headers"]["id"]) == (task, task_id)
    assert fleet_worker.alive()
    _worker_still_serves(client, server)


@pytest.mark.parametrize(
    ("value", "complaint"),
    [("k" * 256, "256 characters long; at most 255"), ({"not": "text"}, "must be a string")],
)
def test_a_correlation_header_the_ledger_cannot_keep_is_bad_params_at_every_door(
    client, server, broker, fleet_worker, value, complaint
):
    url = server.route("/correlated", Reply(200))
    # At the client: refused before anything is published.
    with pytest.raises(BadParams, match=complaint):
        client.call("http.request", {"url": url}, agent_task_id=value)
    # Past the doors (any Celery client): the worker buries it, values cut, and lives.
    sender = Celery(broker=TEST_ENV["FLEET_BROKER_URL"], backend=TEST_ENV["FLEET_BROKER_URL"])
    run = sender.send_task(
        "http.request", kwargs={"url": url}, queue="http", headers={"idempotency_key": value}
    )

    row = wait_final(run.id)
    assert (row["status"], row["error"]["type"]) == ("dead", "BadParams")
    assert complaint in row["error"]["message"]
    assert len(row["requested_key"] or "") <= 255
    assert server.requests_to("/correlated") == []
    assert fleet_worker.alive()


def test_one_queued_row_the_ledger_refuses_is_not_taken_for_an_outage(ledger_db):
    from worker import signals

    signals._skip_queued_rows_until = 0.0
    headers = {"id": f"run-{uuid.uuid4()}", "agent_task_id": "a" * 300}

    signals.record_published(sender="fleet.echo", headers=headers, body=[[], {}, {}])

    assert signals._skip_queued_rows_until == 0.0  # the next publish writes its row
    fine = {"id": str(uuid.uuid4())}
    signals.record_published(sender="fleet.echo", headers=fine, body=[[], {"message": "m"}, {}])
    assert ledger.get_run(fine["id"])["status"] == "queued"


def test_the_correlation_bound_at_the_doors_is_what_the_ledger_columns_hold():
    # The doors (publishers: no SQLAlchemy) state the bound; the model declares it.
    from worker.ledger.models import ToolRun
    from worker.runtime.headers import CORRELATION_HEADERS, CORRELATION_MAX_CHARS

    columns = ToolRun.__table__.c
    names = ("agent_task_id", "step_id", "idempotency_key", "requested_key")
    assert set(CORRELATION_HEADERS) <= set(names)
    assert {columns[name].type.length for name in names} == {CORRELATION_MAX_CHARS}

"""Completion events: each run's end on the stream once its row is final, at least once
(a message that returns after its worker died re-announces), bounded and masked,
read by agent task, by several readers in a group, and by `fleet events`."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import insert

from tests.support import Reply, wait_final, wait_for
from worker import ledger
from worker.cli import main
from worker.events import STREAM_KEY, SUMMARY_MAX_CHARS


def events_of(client: Any, agent_task_id: str, count: int) -> list[dict[str, Any]]:
    """The agent task's events once ``count`` of them are on the stream."""
    return wait_for(
        lambda: len(found := list(client.events(agent_task_id=agent_task_id))) >= count and found,
        20,
        what=f"{count} events of {agent_task_id}",
    )


@pytest.mark.usefixtures("fleet_worker")
def test_each_runs_end_is_announced_with_its_outcome_after_the_row_is_final(client, server):
    agent = f"agent-{uuid.uuid4()}"
    missing = server.route("/events-404", Reply(404))
    echo = client.call("fleet.echo", {"message": "hello"}, agent_task_id=agent, step_id="s1")
    echo.get(timeout=20)
    dead = client.call("http.request", {"url": missing}, agent_task_id=agent, step_id="s2")
    wait_final(dead.id)

    announced = {e["run_id"]: e for e in events_of(client, agent, 2)}

    assert set(announced) == {echo.id, dead.id}
    ok, failed = announced[echo.id], announced[dead.id]
    assert ok["name"] == "integrations.fleet.echo_succeeded" and ok["status"] == "succeeded"
    assert ok["result"] == {"message": "hello", "data": {}}
    assert ok["step_id"] == "s1" and ok["attempts"] == 1 and ok["duration_seconds"] >= 0
    assert failed["name"] == "integrations.http.request_dead"
    assert failed["error"]["type"] == "NotFound" and "result" not in failed
    for run_id, event in announced.items():
        row = ledger.get_run(run_id)
        assert row["status"] == event["status"] and row["attempts"] == event["attempts"]


@pytest.mark.usefixtures("fleet_worker")
def test_an_event_keeps_a_bounded_summary_and_no_secret(client, server):
    agent = f"agent-{uuid.uuid4()}"
    secret = "sk-live-0123456789abcdef-never-in-events"
    big = server.route("/events-big", Reply(200, {"api_token": secret, "page": "x" * 10_000}))
    small = server.route("/events-small", Reply(200, {"api_token": secret}))
    runs = [client.call("http.request", {"url": u}, agent_task_id=agent) for u in (big, small)]
    for run in runs:
        run.get(timeout=20)

    announced = {e["run_id"]: e for e in events_of(client, agent, 2)}

    large, short = announced[runs[0].id], announced[runs[1].id]
    assert large["result_truncated"] is True and len(large["result_preview"]) == SUMMARY_MAX_CHARS
    assert short["result"]["body"]["api_token"] != secret
    assert secret not in json.dumps(announced)


@pytest.mark.usefixtures("fleet_worker")
def test_a_run_final_in_the_ledger_but_never_announced_is_announced_when_its_message_returns(
    client,
):
    # The state a worker leaves when it dies between the ledger's commit and the
    # event: the row is final, the message was never acknowledged and comes back.
    from worker.app import app
    from worker.ledger.db import transaction
    from worker.ledger.models import ToolRun

    run_id, agent = str(uuid.uuid4()), f"agent-{uuid.uuid4()}"
    with transaction() as conn:
        conn.execute(
            insert(ToolRun.__table__).values(
                id=run_id, tool="fleet.echo", queue="syncs", status="succeeded", attempts=1,
                result={"message": "from the ledger", "data": {}}, agent_task_id=agent,
            )
        )  # fmt: skip

    answer = app.send_task(
        "fleet.echo", kwargs={"message": "redelivered"}, task_id=run_id,
        headers={"agent_task_id": agent},
    ).get(timeout=20)  # fmt: skip

    (event,) = events_of(client, agent, 1)
    assert answer == {"message": "from the ledger", "data": {}}
    assert event["run_id"] == run_id and event["status"] == "succeeded"
    assert event["result"] == answer
    assert ledger.get_run(run_id)["attempts"] == 1  # answered, not run again


def test_a_final_write_applied_from_the_outbox_is_announced(ledger_db, redis_clean, client):
    from worker.ledger import outbox
    from worker.ledger.outbox import OUTBOX_KEY

    run_id, agent = str(uuid.uuid4()), f"agent-{uuid.uuid4()}"
    ledger.record_queued(ledger.RunRef(run_id=run_id, tool="fleet.echo", agent_task_id=agent))
    kept = {"run_id": run_id, "execution": 0, "result": {"kept": "in redis"}}
    entry = {"id": uuid.uuid4().hex, "op": "succeed", "kwargs": kept}
    outbox.fleet_redis().rpush(OUTBOX_KEY, json.dumps(entry))

    assert outbox.drain() >= 1
    (event,) = events_of(client, agent, 1)
    assert event["status"] == "succeeded" and event["result"] == {"kept": "in redis"}


@pytest.mark.usefixtures("fleet_worker")
def test_readers_in_a_group_share_the_events_and_a_crashed_one_gets_its_own_again(client):
    group, agent = f"group-{uuid.uuid4()}", f"agent-{uuid.uuid4()}"
    assert list(client.events(group=group, consumer="a", after="$")) == []  # group from now
    runs = [client.call("fleet.echo", {"message": str(n)}, agent_task_id=agent) for n in range(4)]
    for run in runs:
        run.get(timeout=20)
    events_of(client, agent, 4)

    reader_a = client.events(group=group, consumer="a", agent_task_id=agent)
    first = next(reader_a)  # then "crashes": never asks for the next one
    del reader_a
    rest = list(client.events(group=group, consumer="b", agent_task_id=agent))
    again = list(client.events(group=group, consumer="a", agent_task_id=agent))

    assert [e["run_id"] for e in again] == [first["run_id"]]
    assert sorted([first["run_id"], *(e["run_id"] for e in rest)]) == sorted(r.id for r in runs)
    assert list(client.events(group=group, consumer="a")) == []  # all acknowledged now


@pytest.mark.usefixtures("fleet_worker")
def test_fleet_events_prints_an_agents_events(client):
    agent = f"agent-{uuid.uuid4()}"
    run = client.call("fleet.echo", {"message": "cli"}, agent_task_id=agent)
    run.get(timeout=20)
    events_of(client, agent, 1)

    as_json = CliRunner().invoke(main, ["events", "--agent-task-id", agent, "--json"])
    table = CliRunner().invoke(main, ["events", "--agent-task-id", agent])
    unknown = CliRunner().invoke(main, ["events", "--tool", "no.such"])

    (line,) = as_json.stdout.splitlines()
    assert json.loads(line)["run_id"] == run.id
    assert f"integrations.fleet.echo_succeeded  run {run.id}" in table.stdout
    assert unknown.exit_code == 1 and "no.such" in unknown.output


def test_the_stream_is_trimmed_to_its_configured_length(redis_clean, monkeypatch):
    from worker.events import completion, publish
    from worker.fleet_redis import fleet_redis
    from worker.settings import get_settings

    monkeypatch.setenv("FLEET_EVENTS_MAX_LEN", "1000")
    get_settings.cache_clear()
    row = {"id": "r", "tool": "fleet.echo", "status": "succeeded", "attempts": 1}
    try:
        for n in range(2500):
            publish(completion({**row, "id": f"run-{n}"}, result={"n": n}))
        kept = fleet_redis().xlen(STREAM_KEY)
        newest = fleet_redis().xrevrange(STREAM_KEY, count=1)[0][1]
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        fleet_redis().delete(STREAM_KEY)

    # MAXLEN ~ trims whole macro nodes: never below the limit, never far above it.
    assert 1000 <= kept < 1200
    assert json.loads(newest[b"data"])["run_id"] == "run-2499"

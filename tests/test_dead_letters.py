"""The dead-letter workflow through `fleet dlq`: list, show, replay, discard."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tests.support import Reply, letters_of, wait_final
from worker import ledger
from worker.cli import main

pytestmark = pytest.mark.usefixtures("fleet_worker")


def fleet(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def _dead_letter(client, url: str, **headers: str) -> tuple[str, int]:
    call = client.call("http.request", {"url": url}, **headers)
    assert wait_final(call.id)["status"] == "dead"
    [letter] = letters_of(call.id)
    return call.id, letter["id"]


def test_replay_reruns_a_dead_letter_as_a_new_linked_run(client, server):
    url = server.route("/later", Reply(404, {"message": "not yet"}), Reply(200, {"now": True}))
    run_id, letter_id = _dead_letter(client, url, agent_task_id="agent-1")

    code, output = fleet("dlq", "replay", str(letter_id))

    assert code == 0, output
    letter = ledger.get_letter(letter_id)
    assert letter["state"] == "replayed"
    assert letter["replayed_as"] and letter["replayed_as"] != run_id
    assert letter["replayed_as"] in output
    replayed = wait_final(letter["replayed_as"])
    assert replayed["status"] == "succeeded"
    assert replayed["result"]["body"] == {"now": True}
    assert replayed["agent_task_id"] == "agent-1"
    code, output = fleet("dlq", "replay", str(letter_id))
    assert code != 0
    assert "already replayed" in output


def test_discard_marks_without_deleting(client, server):
    _, letter_id = _dead_letter(client, server.route("/nope", Reply(404)))

    code, output = fleet("dlq", "discard", str(letter_id))

    assert code == 0, output
    letter = ledger.get_letter(letter_id)
    assert letter["state"] == "discarded"
    assert letter["resolved_at"] is not None
    code, output = fleet("dlq", "list", "--state", "discarded", "--json")
    assert letter_id in [row["id"] for row in json.loads(output)]


def test_replay_revalidates_params_against_todays_schema(client, server):
    result = client.app.send_task("http.request", kwargs={"url": "x", "method": "FETCH"})
    wait_final(result.id)
    [letter] = letters_of(result.id)

    code, output = fleet("dlq", "replay", str(letter["id"]))

    assert code != 0
    assert "method: Input should be" in output
    assert ledger.get_letter(letter["id"])["state"] == "dead"


def test_list_and_show_describe_the_letter(client, server):
    run_id, letter_id = _dead_letter(client, server.route("/lost", Reply(410)))

    code, listing = fleet("dlq", "list")
    assert code == 0
    assert str(letter_id) in listing and run_id in listing and "NotFound" in listing
    code, shown = fleet("dlq", "show", str(letter_id))
    letter = json.loads(shown)
    assert letter["run_id"] == run_id
    assert letter["error"]["provider_status"] == 410
    assert letter["traceback"] and "NotFound" in letter["traceback"]
    code, missing = fleet("dlq", "show", "999999999")
    assert code != 0 and "no dead letter 999999999" in missing

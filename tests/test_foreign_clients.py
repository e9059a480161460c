"""Every Celery client welcome: what lands on Celery's default queue (a bare app's
`send_task`, `celery call`) is forwarded to its tool's queue, id and headers kept."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from celery import Celery

from tests.support import Reply, letters_of, wait_final
from worker.settings import get_settings

CELERY = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "celery"


@pytest.fixture
def bare_app():
    """A Celery app that knows nothing of the fleet: no routes, no queues, defaults."""
    url = get_settings().broker_url
    app = Celery("somebody-else", broker=url, backend=url)
    yield app
    app.close()


@pytest.mark.usefixtures("fleet_worker")
def test_a_bare_send_task_is_forwarded_to_its_tools_queue_and_answered(bare_app, server):
    url = server.route("/foreign", Reply(200, {"from": "a bare client"}))
    agent = f"agent-{uuid.uuid4()}"

    sent = bare_app.send_task("http.request", kwargs={"url": url}, headers={"agent_task_id": agent})
    result = sent.get(timeout=20)

    assert sent.id is not None and result["body"] == {"from": "a bare client"}
    row = wait_final(sent.id)
    assert row["queue"] == "http"  # forwarded, not run on the default queue's worker
    assert row["agent_task_id"] == agent and row["attempts"] == 1


@pytest.mark.usefixtures("fleet_worker")
def test_an_unknown_name_from_a_bare_client_becomes_a_dead_letter_not_a_pending_run(bare_app):
    sent = bare_app.send_task("github.list_issuez", kwargs={"repo": "octo/hello"})

    row = wait_final(sent.id)

    assert row["status"] == "dead"
    (letter,) = letters_of(sent.id)
    assert "github.list_issues" in letter["error"]["message"]  # did you mean...


@pytest.mark.usefixtures("fleet_worker")
def test_celery_call_from_the_command_line_runs_the_tool():
    done = subprocess.run(
        [str(CELERY), "-b", get_settings().broker_url, "call", "fleet.echo",
         "--kwargs", json.dumps({"message": "from celery call"})],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip

    row = wait_final(done.stdout.strip())

    assert row["status"] == "succeeded"
    assert row["result"] == {"message": "from celery call", "data": {}}


@pytest.mark.usefixtures("fleet_worker")
def test_a_countdown_from_another_celery_client_still_waits_and_runs_once(bare_app):
    sent_at = time.monotonic()
    sent = bare_app.send_task("fleet.echo", kwargs={"message": "later"}, countdown=3)

    result = sent.get(timeout=30)

    assert result == {"message": "later", "data": {}}
    assert time.monotonic() - sent_at >= 3
    row = wait_final(sent.id)
    assert (row["status"], row["attempts"], row["redeliveries"]) == ("succeeded", 1, 0)

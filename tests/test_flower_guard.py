"""Flower as `fleet flower` runs it (loopback, no credentials) answers no request a
browser sends for another site: tried with plain HTTP requests carrying an attacker's
headers, and with pages of other local origins in Debian's headless Chromium.

Flower publishes through the fleet's app, so a call it lets through is a ``queued``
row in the ledger at once; each attack carries a marker of its own, and the ledger
must hold no row with it. Flower reads a Redis of the test's own: nothing it might
publish reaches the session's workers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import (
    REPO,
    RedisServer,
    Reply,
    ScriptedServer,
    WorkerProcess,
    free_port,
    wait_final,
    wait_for,
)
from worker import ledger

SEND = "/api/task/send-task/slack.post_message"
CHROMIUM = Path("/usr/bin/chromium")


class FlowerProcess:
    """A real `fleet flower` on a free loopback port, reading ``broker``."""

    def __init__(self, broker: RedisServer, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self.log = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "worker.cli", "flower", f"--port={self.port}"],
            cwd=REPO,
            env={**os.environ, "FLEET_BROKER_URL": broker.url},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(self._answers, 30, 0.2, what="Flower")

    def _answers(self) -> bool:
        assert self.proc.poll() is None, self.text()
        try:
            return httpx.get(f"{self.url}/healthcheck", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def flower(ledger_db: str, broker: RedisServer, tmp_path: Path) -> Iterator[FlowerProcess]:
    process = FlowerProcess(broker, tmp_path / "flower.log")
    yield process
    process.stop()


def call_body(marker: str) -> str:
    """What an attacker sends: a Slack post, with a marker to find its run by."""
    return json.dumps(
        {"kwargs": {"channel": "C0001", "text": marker}, "headers": {"agent_task_id": marker}}
    )


def runs_marked(marker: str) -> list[dict]:
    return [r for r in ledger.list_runs(limit=1000) if r["agent_task_id"] == marker]


def cors_headers(reply: httpx.Response) -> list[str]:
    return [name for name in reply.headers if name.lower().startswith("access-control-")]


def test_requests_with_an_attackers_headers_never_reach_flower(flower, broker, sim, tmp_path):
    name = f"guarded-{uuid.uuid4().hex[:6]}"
    worker = WorkerProcess(
        tmp_path / "worker.log", env={"FLEET_BROKER_URL": broker.url}, queues="slack", name=name
    )
    try:
        worker.wait_ready()

        def known() -> str | None:
            reply = httpx.get(f"{flower.url}/api/workers?refresh=1", timeout=10)
            return next((w for w in reply.json() if w.startswith(f"{name}@")), None)

        node = wait_for(known, 30, 0.5, what="Flower to know the worker")
        other = {"Origin": f"http://127.0.0.1:{free_port()}", "Sec-Fetch-Site": "same-site"}
        rebound = f"evil.example:{flower.port}"  # a DNS-rebinding page: its own origin
        rebinding = {"Host": rebound, "Origin": f"http://{rebound}"}
        evil = {"Origin": "http://evil.example"}
        plain = {"Content-Type": "text/plain"}  # no preflight
        navigate = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
        document = {**navigate, "Sec-Fetch-Dest": "document"}
        shutdown = f"/api/worker/shutdown/{node}"
        attacks = {
            "foreign Origin": ("POST", SEND, {**plain, **evil}),
            "null Origin": ("POST", SEND, {**plain, "Origin": "null"}),
            "cross-site": ("POST", SEND, {**plain, "Sec-Fetch-Site": "cross-site"}),
            "form navigation": ("POST", SEND, {**plain, **document}),
            "another port": ("POST", SEND, {**plain, **other}),  # another local port
            "rebinding": ("POST", SEND, {**plain, **rebinding, "Sec-Fetch-Site": "same-origin"}),
            "preflight": ("OPTIONS", SEND, evil),
            "cross-origin read": ("GET", "/api/tasks", evil),
            "cross-site API navigation": ("GET", "/api/tasks", document),
            "framed by another port": ("GET", "/", {"Sec-Fetch-Site": "same-site",
                                                    "Sec-Fetch-Dest": "iframe"}),
            "shutdown, cross-site": ("POST", shutdown, {**evil, "Sec-Fetch-Site": "cross-site"}),
            "shutdown, rebinding": ("POST", shutdown, rebinding),
        }  # fmt: skip
        markers = {what: f"attack-{uuid.uuid4().hex[:8]}" for what in attacks}
        answered = {}
        for what, (method, path, headers) in attacks.items():
            reply = httpx.request(
                method, flower.url + path, headers=headers, content=call_body(markers[what])
            )
            answered[what] = (reply.status_code, cors_headers(reply))
        assert answered == dict.fromkeys(attacks, (403, []))

        # Controls: a plain client (the README's curl) and Flower's own page still work.
        own = {"Origin": flower.url, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}
        controls = {"plain": {"Content-Type": "application/json"}, "own page": own}
        ran, ran_markers = [], []
        for what, headers in controls.items():
            marker = f"control-{uuid.uuid4().hex[:8]}"
            ran_markers.append(marker)
            reply = httpx.post(flower.url + SEND, headers=headers, content=call_body(marker))
            assert reply.status_code == 200, (what, reply.text)
            assert cors_headers(reply) == [], what
            ran.append(wait_final(reply.json()["task-id"]))
        page = httpx.get(f"{flower.url}/tasks", headers=document)
        assert page.status_code == 200  # a link from a dashboard to a page still opens it
        tunnel = httpx.get(f"{flower.url}/api/queues/length", headers={"Host": "localhost:8555"})
        assert tunnel.status_code == 200  # `ssh -L 8555:127.0.0.1:5555`: another port, same name

        assert [row["status"] for row in ran] == ["succeeded", "succeeded"]
        assert worker.alive()
        assert known() == node
        for what, marker in markers.items():
            assert runs_marked(marker) == [], what
        posted = json.dumps(sim.requests(provider="slack"), default=str)
        assert [m for m in markers.values() if m in posted] == []
        assert all(json.loads(call_body(m))["kwargs"]["text"] in posted for m in ran_markers)
        assert flower.text().count("refused ") == len(attacks)
    finally:
        worker.stop()


PAGE = """<!doctype html>
<html><body>
<iframe name="flower-sink"></iframe><iframe name="recorder-sink"></iframe>
<form id="to-flower" method="POST" enctype="text/plain" target="flower-sink"
      action="{flower}{send}"><input name='{form_name}' value='"}}'></form>
<form id="to-recorder" method="POST" enctype="text/plain" target="recorder-sink"
      action="{recorder}/record/form"><input name='{form_name}' value='"}}'></form>
<script>
async function attack() {{
  const body = {body};
  for (const url of ["{flower}{send}", "{recorder}/record/fetch"]) {{
    try {{ await fetch(url, {{method: "POST", mode: "no-cors", body: body}}); }}
    catch (e) {{ }}
  }}
  document.getElementById("to-flower").submit();
  document.getElementById("to-recorder").submit();
  document.body.setAttribute("data-sent", "yes");
}}
attack();
</script>
</body></html>
"""


def attacker_page(flower_url: str, recorder_url: str, marker: str) -> bytes:
    """A page that POSTs a call to Flower twice, as a ``no-cors`` fetch and as a
    text/plain form (whose ``name=value`` body is JSON), and the same to a recorder."""
    body = call_body(marker)
    form_name = body[:-1] + ', "pad": "'  # the form adds '=' and the value, '"}'
    return PAGE.format(
        flower=flower_url,
        send=SEND,
        recorder=recorder_url,
        body=json.dumps(body),
        form_name=form_name.replace("'", "&#39;"),
    ).encode()


def run_chromium(url: str, profile: Path) -> str:
    """Open ``url`` in headless Chromium; the DOM once the page has settled."""
    done = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=10000",
         "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=90,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (/usr/bin/chromium)")
@pytest.mark.parametrize("page_host", ["localhost", "127.0.0.1"], ids=["cross-site", "same-site"])
def test_a_page_of_another_local_origin_cannot_send_a_call_through_flower(
    flower, page_host, server, tmp_path
):
    # Flower at 127.0.0.1: a page at localhost is another site, one at 127.0.0.1 on
    # another port the same site; the recorder is as foreign to the page as Flower is.
    recorder = ScriptedServer()
    try:
        recorder.route("/record/fetch", Reply(200, b"ok"))
        recorder.route("/record/form", Reply(200, b"ok"))
        marker = f"browser-{uuid.uuid4().hex[:8]}"
        page = attacker_page(flower.url, recorder.url("", host="127.0.0.1"), marker)
        server.route("/attack.html", Reply(200, page, {"Content-Type": "text/html"}))

        dom = run_chromium(server.url("/attack.html", host=page_host), tmp_path / "profile")

        assert 'data-sent="yes"' in dom
        # The positive control: the browser really sent both posts, shaped as for Flower.
        wait_for(lambda: len(recorder.seen) >= 2, 10, what="the page's posts to the recorder")
        assert sorted(seen.path for seen in recorder.seen) == ["/record/fetch", "/record/form"]
        for seen in recorder.seen:
            assert seen.headers["Origin"] == f"http://{page_host}:{server.port}"
            assert json.loads(seen.body)["headers"]["agent_task_id"] == marker

        # Both reached Flower (refused, or let in as a run), and no call went in.
        def refused() -> int:
            return flower.text().count(f"refused POST {SEND}")

        wait_for(lambda: refused() == 2 or runs_marked(marker), 10, what="Flower's answers")
        assert [row["status"] for row in runs_marked(marker)] == []
        assert refused() == 2
    finally:
        recorder.close()

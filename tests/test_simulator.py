"""The simulator's shared parts (faults, the request log, the control API, the CLI,
runtime settings), exercised through the real SDKs (tests.simulated); each provider's
fake API is tested in tests/providers/<name>/test_fake.py.
"""

from __future__ import annotations

import http.client
import subprocess
import sys
import time

import pytest
import requests
from github import Github, GithubException, RateLimitExceededException
from github.GithubException import BadCredentialsException
from jira import JIRA, JIRAError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from simulator import Simulator, SimulatorClient, SimulatorClientError
from tests import simulated
from tests.simulated import SLACK_TOKEN, slack

# The simulator tests' own simulator and clients (a module of the tests shares them).
sim, gh, sl, jr = simulated.sim, simulated.gh, simulated.sl, simulated.jr
_fresh_world = simulated.fresh_world


# -- faults --------------------------------------------------------------------------------
def test_fault_429_retry_after_reaches_each_sdk(
    sim: Simulator, gh: Github, sl: WebClient, jr: JIRA
) -> None:
    # given
    sim.inject("github", "GET", r"/issues$", status=429, retry_after=7)
    sim.inject("slack", path="chat.postMessage", status=429, retry_after=3)
    sim.inject("jira", path=r"/search$", rate_limit="primary", retry_after=2)
    # when / then
    with pytest.raises(GithubException) as gh_err:
        list(gh.get_repo("octo/hello").get_issues())
    assert (gh_err.value.status, gh_err.value.headers["retry-after"]) == (429, "7")
    with pytest.raises(SlackApiError) as sl_err:
        sl.chat_postMessage(channel="C0001", text="x")
    resp = sl_err.value.response
    assert (resp.status_code, resp.headers["Retry-After"], resp["error"]) == (
        429,
        "3",
        "ratelimited",
    )
    with pytest.raises(JIRAError) as jr_err:
        jr.search_issues("project = DEMO")
    assert (jr_err.value.status_code, jr_err.value.response.headers["Retry-After"]) == (429, "2")


def test_fault_github_primary_and_secondary_rate_limits(sim: Simulator, gh: Github) -> None:
    # given
    sim.inject("github", path=r"/repos/octo/hello$", rate_limit="primary", retry_after=60)
    sim.inject("github", path=r"/repos/octo/hello$", rate_limit="secondary", retry_after=30)
    # when / then
    with pytest.raises(RateLimitExceededException) as primary:
        gh.get_repo("octo/hello")
    assert primary.value.status == 403 and primary.value.headers["x-ratelimit-remaining"] == "0"
    assert int(primary.value.headers["x-ratelimit-reset"]) >= time.time() + 55
    with pytest.raises(RateLimitExceededException) as secondary:
        gh.get_repo("octo/hello")
    assert secondary.value.headers["retry-after"] == "30"
    assert secondary.value.data["message"].startswith("You have exceeded a secondary rate limit")


def test_fault_5xx_then_success(sim: Simulator, gh: Github, sl: WebClient) -> None:
    # given two failures armed per provider
    sim.inject("github", "GET", r"/repos/octo/hello$", status=502, times=2)
    sim.inject("slack", path="auth.test", status=503, times=1)
    # when
    outcomes = []
    for _ in range(3):
        try:
            outcomes.append(gh.get_repo("octo/hello").name)
        except GithubException as err:
            outcomes.append(err.status)
    with pytest.raises(SlackApiError):
        sl.auth_test()
    # then
    assert outcomes == [502, 502, "hello"]
    assert sl.auth_test()["ok"] is True
    assert sim.faults() == []


def test_fault_latency_delays_only_matching_requests(sim: Simulator, sl: WebClient) -> None:
    # given
    sim.inject("slack", path="users.info", latency=0.4)
    # when
    started = time.monotonic()
    sl.users_info(user="U0001")
    slow = time.monotonic() - started
    started = time.monotonic()
    sl.users_info(user="U0001")
    fast = time.monotonic() - started
    # then
    assert slow >= 0.4 > fast


def test_fault_unauthorized_in_each_provider_style(
    sim: Simulator, gh: Github, sl: WebClient, jr: JIRA
) -> None:
    # given
    for provider in ("github", "slack", "jira"):
        sim.inject(provider, unauthorized=True)
    # when / then
    with pytest.raises(BadCredentialsException):
        gh.get_user("alice")
    with pytest.raises(SlackApiError) as sl_err:
        sl.auth_test()
    assert sl_err.value.response.status_code == 200
    assert sl_err.value.response["error"] == "invalid_auth"
    with pytest.raises(JIRAError) as jr_err:
        jr.projects()
    assert jr_err.value.status_code == 401


def test_fault_drop_response_after_the_write(
    sim: Simulator, gh: Github, sl: WebClient, jr: JIRA
) -> None:
    # given
    repo = gh.get_repo("octo/hello")
    sim.inject("github", "POST", r"/issues$", drop_response=True)
    sim.inject("slack", path="chat.postMessage", drop_response=True)
    sim.inject("jira", "POST", r"/comment$", drop_response=True)
    # when / then: every client sees a connection error...
    with pytest.raises(requests.ConnectionError):
        repo.create_issue("lost ack")
    with pytest.raises(http.client.RemoteDisconnected):
        sl.chat_postMessage(channel="C0002", text="lost ack")
    with pytest.raises(requests.ConnectionError):
        jr.add_comment("OPS-1", "lost ack")
    # ...yet every write happened
    assert repo.get_issue(11).title == "lost ack"
    assert sl.conversations_history(channel="C0002")["messages"][0]["text"] == "lost ack"
    assert [c.body for c in jr.comments("OPS-1")] == ["lost ack"]
    dropped = [(r["provider"], r["status"]) for r in sim.requests() if r["dropped"]]
    assert dropped == [("github", 201), ("slack", 200), ("jira", 201)]


def test_fault_scoped_by_method_and_path(sim: Simulator, gh: Github) -> None:
    # given a fault on writes to issues only
    sim.inject("github", "POST", r"/issues$", status=500, times=None)
    repo = gh.get_repo("octo/hello")
    # when / then: reads pass, writes keep failing until cleared
    assert len(list(repo.get_issues())) == 7
    for _ in range(2):
        with pytest.raises(GithubException):
            repo.create_issue("x")
    assert sim.clear_faults() == 1
    assert repo.create_issue("x").number == 11


# -- recording and control -----------------------------------------------------------------
def test_requests_recorded_without_credentials(sim: Simulator, sl: WebClient) -> None:
    # when
    sl.conversations_list(limit=2)
    with pytest.raises(SlackApiError):
        slack(sim, token="xoxb-wrong").auth_test()
    # then
    listed, rejected = sim.requests("slack")
    assert (listed["method"], listed["path"], listed["status"]) == (
        "POST",
        "conversations.list",
        200,
    )
    assert listed["body"] == {"limit": "2"} and listed["auth_valid"] is True
    assert rejected["auth_valid"] is False
    for entry in (listed, rejected):
        assert "authorization" not in entry["headers"]
        assert SLACK_TOKEN not in str(entry) and "xoxb-wrong" not in str(entry)
        assert entry["timestamp"] <= time.time()


def test_simulator_client_controls_a_simulator_over_http(sim: Simulator, gh: Github) -> None:
    # given
    control = SimulatorClient(sim.url).wait_ready()
    repo = gh.get_repo("octo/hello")
    # when: a fault armed over HTTP
    armed = control.inject("github", "POST", r"/issues$", status=503)
    with pytest.raises(GithubException) as err:
        repo.create_issue("first try")
    repo.create_issue("second try")
    # then
    assert err.value.status == 503 and armed["id"] > 0
    statuses = [r["status"] for r in control.requests(provider="github", method="POST")]
    assert statuses == [503, 201]
    control.reset()
    assert control.requests() == []
    assert len(list(repo.get_issues(state="all"))) == 10  # seed restored
    with pytest.raises(SimulatorClientError):
        control.inject("github", status=999)


def test_unknown_paths_are_404(sim: Simulator) -> None:
    # when / then
    assert requests.get(f"{sim.url}/gitlab/projects", timeout=5).status_code == 404
    unknown = requests.post(
        f"{sim.slack_url}nope.method", timeout=5, headers={"Authorization": f"Bearer {SLACK_TOKEN}"}
    )
    assert unknown.json()["error"] == "unknown_method"


def test_stop_closes_keep_alive_connections() -> None:
    # given a client holding a pooled keep-alive connection
    session = requests.Session()
    with Simulator() as short_lived:
        ok = session.get(f"{short_lived.slack_url}auth.test", timeout=5)
    # when the simulator has stopped, then that connection no longer gets answers
    assert ok.json()["error"] == "not_authed"
    with pytest.raises(requests.ConnectionError):
        session.get(f"{short_lived.slack_url}auth.test", timeout=5)


def test_cli_prints_base_urls() -> None:
    # when
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(4)]
        # then
        # (in the providers' discovery order)
        assert [line.split("=")[0] for line in lines[:3]] == [
            "GITHUB_API_URL",
            "JIRA_BASE_URL",
            "SLACK_API_URL",
        ]
        root = lines[3].split("=", 1)[1].split()[0]
        assert lines[0].endswith("/github") and lines[2].endswith("/slack/api/")
        assert root.startswith("http://127.0.0.1:")
        assert SimulatorClient(root).wait_ready().health()["ok"] is True
    finally:
        proc.terminate()
        proc.wait(timeout=5)


# -- bot identities, markers and runtime settings ------------------------------------------


def test_settings_are_switched_in_process_and_over_http_and_reset_restores_them(
    sim: Simulator,
) -> None:
    control = SimulatorClient(sim.url).wait_ready()
    defaults = {
        "github_app_installation": False,
        "github_rate_limiting_disabled": False,
        "slack_missing_scopes": [],
        "slack_tier1_history": False,
    }
    # when
    assert sim.settings() == control.settings() == defaults
    sim.configure(github_app_installation=True)
    control.configure(github_rate_limiting_disabled=True)
    changed = control.configure(slack_missing_scopes=["groups:history", "channels:history"])
    # then
    assert changed == defaults | {
        "github_app_installation": True,
        "github_rate_limiting_disabled": True,
        "slack_missing_scopes": ["channels:history", "groups:history"],
    }
    with pytest.raises(ValueError, match="unknown settings"):
        sim.configure(github_app_token=True)
    with pytest.raises(SimulatorClientError):
        control.configure(slack_tier1_history="yes")
    assert sim.settings() == changed  # a refused change changes nothing
    sim.reset()
    assert control.settings() == defaults

"""The simulator's tests' own simulator and SDK clients pointed at it the way production
code points them, with their retries and sleeps off (so every injected fault reaches the
test unmodified). A test module binds the fixtures it uses to its own names.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from github import Auth, Github
from jira import JIRA
from slack_sdk import WebClient

from simulator import Simulator

GITHUB_TOKEN = "sim-github-token"
SLACK_TOKEN = "xoxb-sim-token"
JIRA_AUTH = ("sim@example.com", "sim-jira-token")


# -- fixtures ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator() as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_world(sim: Simulator) -> None:
    sim.reset()


def github(sim: Simulator, token: str = GITHUB_TOKEN, per_page: int = 30) -> Github:
    return Github(
        auth=Auth.Token(token),
        base_url=sim.github_url,
        per_page=per_page,
        timeout=5,
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


def slack(sim: Simulator, token: str = SLACK_TOKEN) -> WebClient:
    # retry_handlers=[] drops the SDK's default connection-error retry.
    return WebClient(token=token, base_url=sim.slack_url, timeout=5, retry_handlers=[])


def jira(sim: Simulator, auth: tuple[str, str] = JIRA_AUTH, **kwargs: object) -> JIRA:
    return JIRA(
        server=sim.jira_url,
        basic_auth=auth,
        get_server_info=True,
        max_retries=0,
        timeout=5,
        **kwargs,
    )


@pytest.fixture
def gh(sim: Simulator) -> Github:
    return github(sim)


@pytest.fixture
def sl(sim: Simulator) -> WebClient:
    return slack(sim)


@pytest.fixture
def jr(sim: Simulator) -> JIRA:
    return jira(sim)

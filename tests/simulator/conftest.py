"""A simulator of each test module's own (default tokens), reset before every test, and
a client of each SDK on it. ``sim`` here is not the suite's shared simulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from github import Github
from jira import JIRA
from slack_sdk import WebClient

from simulator import Simulator
from tests.simulator.sdks import github, jira, slack


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator() as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_world(sim: Simulator) -> None:
    sim.reset()


@pytest.fixture
def gh(sim: Simulator) -> Github:
    return github(sim)


@pytest.fixture
def sl(sim: Simulator) -> WebClient:
    return slack(sim)


@pytest.fixture
def jr(sim: Simulator) -> JIRA:
    return jira(sim)

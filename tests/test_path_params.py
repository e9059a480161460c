"""A params value that becomes a URL path segment never walks the provider's API.

Sent the way an attacker would, as a raw Celery message past the client's checks,
``github.get_repository {"repo": "../user"}`` and its kind (``..``, ``.``, ``/``,
``\\``, ``%2e``, ``?``, ``#``, control characters in repositories, issue and project
keys, Slack ids) are bad params: a dead letter with no attempt, and not one request
reaches the simulator (its recorder says so). For every value a model does take, the
URL the SDK sends keeps it as the one segment it was meant to be.
"""

from __future__ import annotations

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.support import letters_of, wait_final
from worker.errors import BadParams

pytestmark = pytest.mark.usefixtures("fleet_worker")

WALKS = ["../user", "./..", "octo/..", "../..", "./user", "octo/."]
ENCODED = ["octo/%2e%2e", "octo/hello%2f..", "%2E%2E/user"]
OTHERS = ["octo\\..\\user", "octo/hello/../../../user", "octo/hello?x=1", "octo/hello#x"]
CONTROL = ["octo/hel\nlo", "octo/hello\r", "octo/hel\x00lo", "octo/ hello"]
HOSTILE_REPOS = WALKS + ENCODED + OTHERS + CONTROL

GITHUB_CALLS = [
    ("github.get_repository", {}),
    ("github.list_commits", {}),
    ("github.list_issues", {}),
    ("github.list_pull_requests", {}),
    ("github.get_pull_request", {"number": 1}),
    ("github.create_issue", {"title": "x"}),
    ("github.comment_on_issue", {"number": 1, "body": "x"}),
    ("github.create_pr_review", {"number": 1, "body": "x"}),
]
HOSTILE_KEYS = ["../myself", "DEMO-1/../../myself", "DEMO-1%2f..", "..", "DEMO-1\n", "DEMO-1?x"]
JIRA_CALLS = [
    ("jira.add_comment", "issue", {"body": "x"}),
    ("jira.transition_issue", "issue", {"transition": "Done"}),
    ("jira.create_issue", "project", {"summary": "x"}),
    ("jira.search_issues", "project", {}),
]
HOSTILE_SLACK_IDS = ["../C0001", "C0001/..", "..", "C0001%2e", "C0001\n", "C0001?x", "C0001#x"]
SLACK_CALLS = [
    ("slack.post_message", "channel", {"text": "x"}),
    ("slack.get_channel_history", "channel", {}),
    ("slack.get_user_info", "user", {}),
    ("slack.post_message", "thread_ts", {"channel": "C0001", "text": "x"}),
    ("slack.get_channel_history", "oldest", {"channel": "C0001"}),
]


def _refused_raw(client, tool: str, params: dict) -> None:
    """Sent past the client (a raw message): a BadParams dead letter, never attempted."""
    result = client.app.send_task(tool, kwargs=params)
    with pytest.raises(BadParams):
        result.get(timeout=20)
    row = wait_final(result.id)
    assert (row["status"], row["attempts"]) == ("dead", 0)
    [letter] = letters_of(result.id)
    assert letter["error"]["type"] == "BadParams"


@pytest.mark.parametrize("repo", HOSTILE_REPOS)
@pytest.mark.parametrize(("tool", "extra"), GITHUB_CALLS, ids=[t for t, _ in GITHUB_CALLS])
def test_a_repository_that_walks_the_path_is_bad_params_and_reaches_no_github(
    client, sim, tool, extra, repo
):
    params = {"repo": repo, **extra}

    with pytest.raises(BadParams, match="repo"):
        client.validate(tool, params)
    _refused_raw(client, tool, params)

    # Not GET /user (the README: the fleet never calls it), nor anything else.
    assert sim.requests(provider="github") == []


@pytest.mark.parametrize("value", HOSTILE_KEYS)
@pytest.mark.parametrize(("tool", "field", "extra"), JIRA_CALLS, ids=[t for t, *_ in JIRA_CALLS])
def test_an_issue_or_project_key_that_walks_the_path_reaches_no_jira(
    client, sim, tool, field, extra, value
):
    params = {field: value, **extra}

    with pytest.raises(BadParams, match=field):
        client.validate(tool, params)
    _refused_raw(client, tool, params)

    assert sim.requests(provider="jira") == []


@pytest.mark.parametrize("value", HOSTILE_SLACK_IDS)
@pytest.mark.parametrize(
    ("tool", "field", "extra"), SLACK_CALLS, ids=[f"{t}-{f}" for t, f, _ in SLACK_CALLS]
)
def test_a_slack_id_or_ts_that_is_not_one_reaches_no_slack(client, sim, tool, field, extra, value):
    params = {field: value, **extra}

    with pytest.raises(BadParams, match=field):
        client.validate(tool, params)
    _refused_raw(client, tool, params)

    assert sim.requests(provider="slack") == []


def test_a_sync_of_a_repository_that_walks_the_path_cannot_be_declared():
    from tasks.github.syncs import CommitsSync, IssuesSync

    for model in (IssuesSync, CommitsSync):
        for repo in WALKS:
            with pytest.raises(ValidationError, match="repo"):
                model(repo=repo)


def test_dotted_names_that_are_names_stay_callable(client, sim):
    # ".github" and "hello.js" are names GitHub allows: only "." and ".." are not.
    from tasks.github.params import GetRepository

    for repo in ("octo/.github", "octo/hello.js", "octo/..hello", "o_o/x-y"):
        assert GetRepository(repo=repo).repo == repo


# ---- every value a model takes stays one segment in the URL the SDK sends -------------

PIECES = st.sampled_from(["a", "Z", "0", "_", "-", ".", "..", "/", "\\", "%2e", "%", "?", "#"])
TEXT = st.lists(PIECES | st.characters(max_codepoint=0x7F), max_size=8).map("".join)


def _sent_path(url: str) -> str:
    """The path a request to ``url`` goes out with (requests/urllib3 normalize it)."""
    return requests.Request("GET", url).prepare().path_url


@settings(max_examples=400, deadline=None)
@given(owner=TEXT, name=TEXT)
def test_every_repository_the_model_takes_is_requested_as_exactly_itself(owner, name):
    from github import Auth, Github

    from tasks.github.client import repository
    from tasks.github.params import GetRepository

    repo = f"{owner}/{name}"
    try:
        GetRepository(repo=repo)
    except ValidationError:
        return
    base = "http://127.0.0.1:9/api/v3"
    gh = Github(auth=Auth.Token("x"), base_url=base, lazy=True)

    path = repository(gh, repo).url  # PyGithub puts its base URL in front of it

    assert _sent_path(base + path) == f"/api/v3/repos/{repo}"


@settings(max_examples=400, deadline=None)
@given(key=TEXT)
def test_every_issue_key_the_model_takes_is_requested_as_exactly_itself(key):
    from tasks.jira.params import AddComment
    from tasks.shared.segments import segment

    try:
        AddComment(issue=key, body="x")
    except ValidationError:
        return

    sent = _sent_path(f"http://127.0.0.1:9/jira/rest/api/2/issue/{segment(key)}/comment")

    assert sent == f"/jira/rest/api/2/issue/{key}/comment"


@pytest.mark.parametrize("value", ["..", ".", "a/b", "a\\b", "%2e%2e", "a?b", "a#b", "a\nb", ""])
def test_segment_refuses_what_would_not_stay_one_segment(value):
    from tasks.shared.segments import segment

    with pytest.raises(BadParams):
        segment(value)

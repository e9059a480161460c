"""Provider simulator, exercised through the real SDKs (PyGithub, slack_sdk, jira).

Each SDK is configured the way production code would point it at the simulator, with its
own retries and sleeps disabled so every injected fault reaches the test unmodified.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
from github import Auth, Github, GithubException, RateLimitExceededException
from github.GithubException import BadCredentialsException, UnknownObjectException
from jira import JIRA, JIRAError
from jira.resources import Issue
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from simulator import Simulator, SimulatorClient, SimulatorClientError

GITHUB_TOKEN = "sim-github-token"
SLACK_TOKEN = "xoxb-sim-token"
JIRA_AUTH = ("sim@example.com", "sim-jira-token")


# -- fixtures ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator() as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_world(sim: Simulator) -> None:
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


# -- GitHub --------------------------------------------------------------------------------
def test_github_repo_parses_and_links_back_to_simulator(sim: Simulator, gh: Github) -> None:
    # when
    repo = gh.get_repo("octo/hello")
    # then
    assert (repo.full_name, repo.owner.login, repo.default_branch) == ("octo/hello", "octo", "main")
    assert repo.url == f"{sim.github_url}/repos/octo/hello"
    assert repo.html_url.startswith(sim.url)
    assert repo.open_issues_count == 7  # 5 issues + 2 open PRs, as GitHub counts them


def test_github_search_repositories_by_terms_and_qualifiers(gh: Github) -> None:
    # when
    hits = gh.search_repositories("hello user:octo", sort="stars")
    # then
    assert [r.full_name for r in hits] == ["octo/hello", "octo/widgets", "octo/hello-docs"]
    assert hits.totalCount == 3
    assert [r.full_name for r in gh.search_repositories("gateway language:TypeScript")] == [
        "acme/api"
    ]


def test_github_issue_pagination_follows_link_headers(sim: Simulator) -> None:
    # given a client with small pages
    client = github(sim, per_page=3)
    # when
    issues = list(client.get_repo("octo/hello").get_issues(state="all"))
    # then every issue (PRs included, as on GitHub) arrives exactly once over 4 pages
    assert [i.number for i in issues] == list(range(10, 0, -1))
    pages = [r["query"].get("page") for r in sim.requests("github", path=r"/issues$")]
    assert pages == [None, "2", "3", "4"]
    first = requests.get(
        f"{sim.github_url}/repos/octo/hello/issues",
        params={"per_page": 3, "state": "all"},
        headers={"Authorization": f"token {GITHUB_TOKEN}"},
        timeout=5,
    )
    assert 'rel="next"' in first.headers["Link"] and 'rel="last"' in first.headers["Link"]
    assert first.headers["Link"].startswith(f"<{sim.github_url}/repos/octo/hello/issues?")


def test_github_issue_filters(gh: Github) -> None:
    repo = gh.get_repo("octo/hello")
    # when / then
    assert {i.number for i in repo.get_issues(state="closed")} == {3, 6, 10}
    assert {i.number for i in repo.get_issues(labels=["bug"])} == {1, 4, 7, 9}
    since = datetime(2024, 1, 7, tzinfo=UTC)
    assert {i.number for i in repo.get_issues(state="all", since=since)} == {7, 8, 9, 10}
    assert all(i.pull_request is not None for i in repo.get_issues() if i.number >= 8)


def test_github_commits_filter_by_sha_dates_and_author(gh: Github) -> None:
    repo = gh.get_repo("octo/hello")
    all_commits = list(repo.get_commits())
    # when
    window = repo.get_commits(
        since=datetime(2024, 1, 3, tzinfo=UTC), until=datetime(2024, 1, 5, 23, tzinfo=UTC)
    )
    # then
    assert len(all_commits) == 7
    assert [c.commit.author.date.day for c in window] == [5, 4, 3]
    assert {c.author.login for c in repo.get_commits(author="alice")} == {"alice"}
    older = list(repo.get_commits(sha=all_commits[2].sha))
    assert [c.sha for c in older] == [c.sha for c in all_commits[2:]]
    assert all_commits[0].stats.total > 0  # lazy completion through the commit's own url


def test_github_created_issue_is_listed_and_commentable(gh: Github) -> None:
    repo = gh.get_repo("octo/hello")
    # when
    issue = repo.create_issue(
        "Agent found a bug", body="details", labels=["bug", "triage"], assignees=["alice"]
    )
    comment = repo.get_issue(issue.number).create_comment("Working on it")
    # then
    assert (issue.number, issue.user.login, issue.state) == (11, "sim-user", "open")
    assert [label.name for label in issue.labels] == ["bug", "triage"]
    assert [a.login for a in issue.assignees] == ["alice"]
    assert comment.body == "Working on it"
    listed = repo.get_issues(labels=["triage"])
    assert [(i.number, i.comments) for i in listed] == [(11, 1)]


def test_github_edit_closes_an_issue(gh: Github) -> None:
    repo = gh.get_repo("octo/hello")
    # when
    repo.get_issue(1).edit(state="closed", labels=["bug", "wontfix"])
    # then
    closed = repo.get_issue(1)
    assert (closed.state, closed.closed_at is not None) == ("closed", True)
    assert 1 in {i.number for i in repo.get_issues(state="closed", labels=["wontfix"])}
    assert 1 not in {i.number for i in repo.get_issues()}


def test_github_validation_errors_are_422(gh: Github) -> None:
    repo = gh.get_repo("octo/hello")
    # when / then
    with pytest.raises(GithubException) as empty_title:
        repo.create_issue("")
    assert empty_title.value.status == 422
    assert empty_title.value.data["message"] == "Validation Failed"
    assert empty_title.value.data["errors"][0]["field"] == "title"
    with pytest.raises(GithubException) as bad_assignee:
        repo.create_issue("t", assignees=["nobody"])
    assert bad_assignee.value.data["errors"][0]["code"] == "invalid"


def test_github_pull_requests_files_and_stats(gh: Github) -> None:
    repo = gh.get_repo("octo/hello")
    # when
    open_pulls = list(repo.get_pulls(state="open"))
    pull = repo.get_pull(8)
    # then
    assert [p.number for p in open_pulls] == [9, 8]
    assert open_pulls[1].additions == 52  # list items lack stats: PyGithub completes lazily
    assert (pull.additions, pull.deletions, pull.changed_files) == (52, 3, 2)
    assert pull.head.ref == "feature/retry" and pull.base.ref == "main"
    files = list(pull.get_files())
    assert [(f.filename, f.status, f.additions) for f in files] == [
        ("src/hello/client.py", "modified", 12),
        ("tests/test_client.py", "added", 40),
    ]
    assert {p.number for p in repo.get_pulls(state="closed")} == {10}


def test_github_review_with_inline_comments(gh: Github) -> None:
    pull = gh.get_repo("octo/hello").get_pull(8)
    # when
    review = pull.create_review(
        body="Needs work",
        event="REQUEST_CHANGES",
        comments=[
            {"path": "src/hello/client.py", "position": 2, "body": "why?"},
            {"path": "tests/test_client.py", "line": 5, "body": "more cases"},
        ],
    )
    # then
    assert (review.state, review.body, review.user.login) == (
        "CHANGES_REQUESTED",
        "Needs work",
        "sim-user",
    )
    assert [r.id for r in pull.get_reviews()] == [review.id]
    with pytest.raises(GithubException) as outside_diff:
        pull.create_review(event="COMMENT", comments=[{"path": "nope.py", "line": 1, "body": "x"}])
    assert outside_diff.value.status == 422


def test_github_auth_and_not_found(sim: Simulator, gh: Github) -> None:
    # when / then
    with pytest.raises(BadCredentialsException) as bad:
        github(sim, token="wrong").get_repo("octo/hello")
    assert bad.value.data["message"] == "Bad credentials"
    with pytest.raises(UnknownObjectException):
        gh.get_repo("octo/missing")


def test_github_rate_limit_headers_on_every_response(sim: Simulator, gh: Github) -> None:
    # when
    gh.get_repo("octo/hello")
    gh.get_repo("octo/widgets")
    raw = requests.get(
        f"{sim.github_url}/users/alice",
        timeout=5,
        headers={"Authorization": f"Bearer {GITHUB_TOKEN}"},
    )
    # then
    assert gh.rate_limiting == (4998, 5000)
    for name in ("limit", "remaining", "reset", "used", "resource"):
        assert f"x-ratelimit-{name}" in raw.headers
    assert (raw.headers["x-ratelimit-used"], raw.json()["login"]) == ("3", "alice")


# -- Slack ---------------------------------------------------------------------------------
def test_slack_auth_test(sl: WebClient) -> None:
    # when
    me = sl.auth_test()
    # then
    assert (me["ok"], me["user_id"], me["team_id"], me["bot_id"]) == (
        True,
        "U0007",
        "T0001",
        "B0001",
    )


def test_slack_posted_message_and_thread_reply(sl: WebClient) -> None:
    # when
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "*deploy* done"}}
    posted = sl.chat_postMessage(channel="C0001", text="deploy done", blocks=[section])
    reply = sl.chat_postMessage(channel="#general", text="nice", thread_ts=posted["ts"])
    # then
    assert float(reply["ts"]) > float(posted["ts"]) > 1700000000.0001
    newest = sl.conversations_history(channel="C0001", limit=1)["messages"][0]
    assert (newest["ts"], newest["text"], newest["reply_count"]) == (posted["ts"], "deploy done", 1)
    assert newest["blocks"][0]["type"] == "section"
    thread = sl.conversations_replies(channel="C0001", ts=posted["ts"])["messages"]
    assert [m["text"] for m in thread] == ["deploy done", "nice"]


def test_slack_history_paginates_by_cursor(sl: WebClient) -> None:
    # when
    # (slack_sdk reuses one response object while iterating, so keep each page's data)
    pages = [page.data for page in sl.conversations_history(channel="C0001", limit=3)]
    # then
    texts = [m["text"] for page in pages for m in page["messages"]]
    assert len(pages) == 3 and texts == [f"Hello #{n}" for n in range(7, 0, -1)]
    assert [p["has_more"] for p in pages] == [True, True, False]
    oldest = sl.conversations_history(channel="C0001", oldest="1700000180.000100")
    assert [m["text"] for m in oldest["messages"]] == ["Hello #7", "Hello #6", "Hello #5"]


def test_slack_channels_list_paginates_and_hides_private(sl: WebClient) -> None:
    # when
    pages = [page.data for page in sl.conversations_list(limit=2, exclude_archived=True)]
    private = sl.conversations_list(types="private_channel")["channels"]
    # then
    names = [c["name"] for p in pages for c in p["channels"]]
    assert len(pages) == 3
    assert names == ["general", "random", "engineering", "alerts", "design", "releases"]
    assert [c["name"] for c in private] == ["secret-ops"]  # not a member of hr-private


def test_slack_users_list_and_info(sl: WebClient) -> None:
    # when
    pages = [page.data for page in sl.users_list(limit=3)]
    # then
    assert [len(p["members"]) for p in pages] == [3, 3, 1]
    assert sl.users_info(user="U0002")["user"]["real_name"] == "Bob Builder"
    with pytest.raises(SlackApiError) as missing:
        sl.users_info(user="U9999")
    assert (missing.value.response.status_code, missing.value.response["error"]) == (
        200,
        "user_not_found",
    )


def test_slack_create_channel_then_listed_and_errors(sl: WebClient) -> None:
    # when
    created = sl.conversations_create(name="incident-42", is_private=False)["channel"]
    # then
    listed = [c["id"] for c in sl.conversations_list(limit=100)["channels"]]
    assert created["name"] == "incident-42" and created["id"] in listed
    for name, error in [("incident-42", "name_taken"), ("Bad Name!", "invalid_name_specials")]:
        with pytest.raises(SlackApiError) as err:
            sl.conversations_create(name=name)
        assert err.value.response["error"] == error


def test_slack_errors_are_http_200_with_ok_false(sim: Simulator, sl: WebClient) -> None:
    # when / then
    with pytest.raises(SlackApiError) as unknown:
        sl.chat_postMessage(channel="C4040", text="x")
    assert (unknown.value.response.status_code, unknown.value.response["error"]) == (
        200,
        "channel_not_found",
    )
    with pytest.raises(SlackApiError) as bad_auth:
        slack(sim, token="xoxb-wrong").auth_test()
    assert bad_auth.value.response["error"] == "invalid_auth"


def test_slack_accepts_form_and_json_bodies(sim: Simulator) -> None:
    # when: form body carrying the token, then JSON body with a bearer header
    form = requests.post(
        f"{sim.slack_url}conversations.history",
        timeout=5,
        data={"token": SLACK_TOKEN, "channel": "C0001", "limit": "2"},
    )
    as_json = requests.post(
        f"{sim.slack_url}chat.postMessage",
        timeout=5,
        json={"channel": "C0002", "text": "json"},
        headers={"Authorization": f"Bearer {SLACK_TOKEN}"},
    )
    # then
    assert len(form.json()["messages"]) == 2
    assert as_json.json()["ok"] is True
    assert sim.requests("slack", path="history")[0]["body"]["token"] == "***"


# -- Jira ----------------------------------------------------------------------------------
def test_jira_projects_and_project(jr: JIRA) -> None:
    # when / then
    assert [(p.key, p.name) for p in jr.projects()] == [
        ("DEMO", "Demo Project"),
        ("OPS", "Operations"),
    ]
    demo = jr.project("DEMO")
    assert demo.lead.displayName == "Sim User"
    assert {c.name for c in demo.components} == {"Backend", "Frontend"}


def test_jira_search_start_at_pagination(jr: JIRA) -> None:
    # when
    pages = [
        jr.search_issues("project = DEMO ORDER BY key ASC", startAt=s, maxResults=3)
        for s in (0, 3, 6)
    ]
    # then
    assert [len(p) for p in pages] == [3, 3, 1]
    assert {p.total for p in pages} == {7}
    assert [i.key for p in pages for i in p] == [f"DEMO-{n}" for n in range(1, 8)]


def test_jira_library_fetches_all_pages_itself(sim: Simulator) -> None:
    # given the library batching 2 issues per request
    client = jira(sim, default_batch_sizes={Issue: 2})
    # when
    everything = client.search_issues("project = DEMO", maxResults=False)
    # then
    assert len({i.key for i in everything}) == 7
    assert len(sim.requests("jira", path=r"/search$")) == 4


def test_jira_created_issue_is_searchable(jr: JIRA) -> None:
    # when
    issue = jr.create_issue(
        fields={
            "project": {"key": "OPS"},
            "summary": "Pager storm",
            "description": "too many pages",
            "issuetype": {"name": "Bug"},
            "priority": {"name": "Highest"},
            "labels": ["oncall"],
            "components": [{"name": "Infra"}],
        }
    )
    # then
    assert (issue.key, issue.fields.status.name, issue.fields.priority.name) == (
        "OPS-4",
        "To Do",
        "Highest",
    )
    assert [c.name for c in issue.fields.components] == ["Infra"]
    assert [i.key for i in jr.search_issues('labels = oncall AND text ~ "pager"')] == ["OPS-4"]


def test_jira_create_issue_reports_field_errors(jr: JIRA) -> None:
    # when
    with pytest.raises(JIRAError) as err:
        jr.create_issue(
            fields={"project": {"key": "DEMO"}, "summary": "", "issuetype": {"name": "Saga"}}
        )
    # then
    assert err.value.status_code == 400
    assert err.value.response.json()["errors"] == {
        "summary": "You must specify a summary of the issue.",
        "issuetype": "valid issue type is required",
    }


def test_jira_comment_and_workflow_transitions(jr: JIRA) -> None:
    # when
    comment = jr.add_comment("DEMO-1", "Investigating")
    available = [(t["id"], t["name"]) for t in jr.transitions("DEMO-1")]
    jr.transition_issue("DEMO-1", "11")
    jr.transition_issue("DEMO-1", "Done")  # by name: the library looks the id up
    # then
    assert available == [("11", "Start Progress")]
    done = jr.issue("DEMO-1")
    assert (done.fields.status.name, done.fields.resolution.name) == ("Done", "Done")
    assert [c.body for c in jr.comments("DEMO-1")] == [comment.body]
    with pytest.raises(JIRAError) as invalid:
        jr.transition_issue("DEMO-1", "11")
    assert invalid.value.status_code == 400


def test_jira_edit_with_fields_and_update_verbs(jr: JIRA) -> None:
    # when
    jr.issue("DEMO-2").update(
        summary="Dark mode, take two",
        assignee="carol",
        update={
            "labels": [{"add": "design"}, {"remove": "ui"}],
            "comment": [{"add": {"body": "+1"}}],
        },
    )
    # then
    edited = jr.issue("DEMO-2")
    assert edited.fields.summary == "Dark mode, take two"
    assert (edited.fields.labels, edited.fields.assignee.name) == (["design"], "carol")
    assert [c.body for c in jr.comments("DEMO-2")] == ["+1"]


def test_jira_cloud_flavour_pages_with_next_page_token() -> None:
    # given a simulator presenting itself as Jira Cloud
    with Simulator(jira_deployment="Cloud") as cloud:
        client = jira(cloud)
        # when: the library switches to /search/jql on its own
        first = client.search_issues("project = DEMO ORDER BY key ASC", maxResults=3)
        second = client.enhanced_search_issues(
            "project = DEMO ORDER BY key ASC", nextPageToken=first.nextPageToken, maxResults=3
        )
        # then
        assert [i.key for i in first + second] == [f"DEMO-{n}" for n in range(1, 7)]
        assert {r["path"] for r in cloud.requests("jira", path="search")} == {
            "/rest/api/2/search/jql"
        }


def test_jira_search_users_and_missing_issue(jr: JIRA) -> None:
    # when / then
    assert [u.displayName for u in jr.search_users(query="ali")] == ["Alice Liddell"]
    with pytest.raises(JIRAError) as missing:
        jr.issue("DEMO-404")
    assert missing.value.status_code == 404
    assert "Issue does not exist" in missing.value.text


def test_jira_jql_subset(jr: JIRA) -> None:
    def keys(jql: str) -> list[str]:
        return [i.key for i in jr.search_issues(jql)]

    # when / then
    assert keys('project = DEMO AND status = "In Progress" ORDER BY key ASC') == [
        "DEMO-2",
        "DEMO-6",
    ]
    assert keys("assignee = currentUser() ORDER BY updated ASC") == ["DEMO-4", "OPS-3"]
    assert keys("labels = backend") == ["DEMO-3"]
    assert keys('updated >= "2024-02-10 00:00" ORDER BY updated DESC') == ["OPS-3", "OPS-2"]
    assert keys("assignee is EMPTY ORDER BY key DESC") == ["DEMO-5", "DEMO-3"]


def test_jira_quoted_injection_stays_a_literal(jr: JIRA) -> None:
    # given a user-supplied value escaped into a JQL string literal
    evil = 'login" OR project = OPS'
    quoted = '"' + evil.replace("\\", "\\\\").replace('"', '\\"') + '"'
    # when / then: the OR never becomes JQL, so OPS issues never leak in
    assert jr.search_issues(f"project = DEMO AND summary ~ {quoted}") == []
    with pytest.raises(JIRAError) as as_project:
        jr.search_issues(f"project = {quoted}")
    assert "does not exist for the field 'project'" in as_project.value.text


def test_jira_bad_jql_and_bad_auth(sim: Simulator, jr: JIRA) -> None:
    # when / then
    with pytest.raises(JIRAError) as bad_jql:
        jr.search_issues("project = DEMO AND AND")
    assert bad_jql.value.status_code == 400
    assert bad_jql.value.text.startswith("Error in the JQL Query:")
    with pytest.raises(JIRAError) as bad_auth:
        jira(sim, auth=("sim@example.com", "wrong"))
    assert bad_auth.value.status_code == 401


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
        assert [line.split("=")[0] for line in lines[:3]] == [
            "GITHUB_API_URL",
            "SLACK_API_URL",
            "JIRA_BASE_URL",
        ]
        root = lines[3].split("=", 1)[1].split()[0]
        assert lines[0].endswith("/github") and lines[1].endswith("/slack/api/")
        assert root.startswith("http://127.0.0.1:")
        assert SimulatorClient(root).wait_ready().health()["ok"] is True
    finally:
        proc.terminate()
        proc.wait(timeout=5)


# -- bot identities, markers and runtime settings ------------------------------------------
MARKER = "<!-- toolfleet:run-1 -->"


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


def test_github_app_installation_token_may_not_read_the_user(sim: Simulator, gh: Github) -> None:
    # given
    assert gh.get_user().login == "sim-user"  # a personal token may
    sim.configure(github_app_installation=True)
    # when
    with pytest.raises(GithubException) as refused:
        gh.get_user().login  # noqa: B018 - the property fetches
    issue = gh.get_repo("octo/hello").create_issue("As an App", body=f"text\n\n{MARKER}")
    # then: 403 with GitHub's message; everything else still works
    assert refused.value.status == 403
    assert refused.value.data["message"] == "Resource not accessible by integration"
    assert gh.get_repo("octo/hello").get_issue(issue.number).body == f"text\n\n{MARKER}"


def test_github_issues_comments_and_reviews_keep_marked_bodies_and_filter_by_since(
    gh: Github,
) -> None:
    repo = gh.get_repo("octo/hello")
    before = datetime.now(UTC) - timedelta(seconds=1)  # timestamps have whole seconds
    # when
    issue = repo.create_issue("Marked", body=MARKER)
    comment = repo.get_issue(1).create_comment(f"Seen it\n\n{MARKER}")
    review = repo.get_pull(8).create_review(body=MARKER, event="APPROVE")
    # then
    recent = list(repo.get_issues(state="all", since=before))
    assert [i.number for i in recent if i.body == MARKER] == [issue.number]
    assert 1 in {i.number for i in recent}  # commented on: updated since
    assert [c.id for c in repo.get_issue(1).get_comments(since=before)] == [comment.id]
    assert [(r.id, r.body) for r in repo.get_pull(8).get_reviews()] == [(review.id, MARKER)]
    later = datetime.now(UTC) + timedelta(seconds=5)
    assert list(repo.get_issue(1).get_comments(since=later)) == []


def test_slack_bot_without_history_scopes_is_refused_history_and_replies(
    sim: Simulator, sl: WebClient
) -> None:
    # given
    sim.configure(slack_missing_scopes=["channels:history"])
    posted = sl.chat_postMessage(channel="C0002", text="chat:write still works")
    # when
    with pytest.raises(SlackApiError) as history:
        sl.conversations_history(channel="C0002")
    with pytest.raises(SlackApiError) as replies:
        sl.conversations_replies(channel="C0002", ts=posted["ts"])
    private = sl.conversations_history(channel="C0007")  # groups:history is still granted
    # then: HTTP 200, ok false, what was needed and what the token has
    for refused in (history, replies):
        response = refused.value.response
        assert (response.status_code, response["error"]) == (200, "missing_scope")
        assert response["needed"] == "channels:history"
        assert "chat:write" in response["provided"].split(",")
        assert "channels:history" not in response["provided"].split(",")
    assert "channels:history" not in history.value.response.headers["X-OAuth-Scopes"]
    assert private["ok"] is True
    sim.configure(slack_missing_scopes=["groups:history"])
    with pytest.raises(SlackApiError) as group:
        sl.conversations_history(channel="C0007")
    assert group.value.response["needed"] == "groups:history"


def test_slack_metadata_is_returned_only_with_include_all_metadata(sl: WebClient) -> None:
    # given
    marker = {"event_type": "toolfleet_run", "event_payload": {"run_id": "run-1"}}
    parent = sl.chat_postMessage(channel="C0002", text="parent", metadata=marker)
    sl.chat_postMessage(channel="C0002", text="reply", thread_ts=parent["ts"], metadata=marker)
    # when
    plain = sl.conversations_history(channel="C0002", limit=1)["messages"][0]
    full = sl.conversations_history(channel="C0002", limit=1, include_all_metadata=True)
    thread = sl.conversations_replies(
        channel="C0002", ts=parent["ts"], oldest=parent["ts"], include_all_metadata=True
    )
    # then
    assert "metadata" not in plain
    assert full["messages"][0]["metadata"] == marker
    assert [(m["text"], m["metadata"]) for m in thread["messages"]] == [
        ("parent", marker),
        ("reply", marker),
    ]
    with pytest.raises(SlackApiError) as bad:
        sl.chat_postMessage(channel="C0002", text="x", metadata={"event_payload": {}})
    assert bad.value.response["error"] == "invalid_metadata_schema"


def test_slack_tier1_history_is_one_call_a_minute_of_at_most_15_when_switched_on(
    sim: Simulator, sl: WebClient
) -> None:
    # given a channel with 20 messages, unlimited by default
    for n in range(20):
        sl.chat_postMessage(channel="C0005", text=f"m{n}")
    assert len(sl.conversations_history(channel="C0005", limit=100)["messages"]) == 20
    assert sl.conversations_history(channel="C0005", limit=100)["ok"] is True
    sim.configure(slack_tier1_history=True)
    # when
    first = sl.conversations_history(channel="C0005", limit=100)
    with pytest.raises(SlackApiError) as second:
        sl.conversations_history(channel="C0005", limit=5)
    replies = sl.conversations_replies(channel="C0005", ts=first["messages"][0]["ts"])
    # then: 15 at most, and the method's next call waits for the minute to end
    assert len(first["messages"]) == 15 and first["has_more"] is True
    response = second.value.response
    assert (response.status_code, response["error"]) == (429, "ratelimited")
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert replies["ok"] is True  # each method has its own budget


def _jira_post(jr: JIRA, path: str, payload: dict) -> dict:
    """A POST through the library's session (its own methods cannot send properties)."""
    return jr._session.post(jr._get_url(path), data=json.dumps(payload)).json()


def test_jira_issue_properties_are_set_at_creation_and_read_back(sim: Simulator, jr: JIRA) -> None:
    # when
    marker = {"key": "toolfleet", "value": {"run_id": "run-1"}}
    fields = {"project": {"key": "OPS"}, "summary": "Marked", "issuetype": {"name": "Task"}}
    created = _jira_post(jr, "issue", {"fields": fields, "properties": [marker]})
    # then
    url = jr._get_url(f"issue/{created['key']}/properties/toolfleet")
    assert jr._session.get(url).json() == marker
    with pytest.raises(JIRAError) as missing:
        jr._session.get(jr._get_url("issue/OPS-1/properties/toolfleet"))
    assert missing.value.status_code == 404
    with pytest.raises(JIRAError) as bad:
        _jira_post(jr, "issue", {"fields": fields, "properties": [{"key": ""}]})
    assert bad.value.status_code == 400
    assert [i.key for i in jr.search_issues('summary ~ "Marked"')] == [created["key"]]


def test_jira_comment_properties_are_listed_with_expand_newest_first(jr: JIRA) -> None:
    # given
    marker = {"key": "toolfleet", "value": {"run_id": "run-1"}}
    jr.add_comment("OPS-1", "plain")
    marked = _jira_post(jr, "issue/OPS-1/comment", {"body": "marked", "properties": [marker]})
    jr.add_comment("OPS-1", "latest")
    url = jr._get_url("issue/OPS-1/comment")
    # when
    plain = jr._session.get(url).json()
    newest = jr._session.get(
        url, params={"expand": "properties", "orderBy": "-created", "maxResults": 2}
    ).json()
    # then
    assert [c["body"] for c in plain["comments"]] == ["plain", "marked", "latest"]
    assert "properties" not in plain["comments"][0]
    assert (newest["total"], newest["maxResults"]) == (3, 2)
    assert [(c["body"], c["properties"]) for c in newest["comments"]] == [
        ("latest", []),
        ("marked", [marker]),
    ]
    prop = jr._session.get(jr._get_url(f"comment/{marked['id']}/properties/toolfleet"))
    assert prop.json() == marker

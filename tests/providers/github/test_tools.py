"""GitHub tools through a real worker and PyGithub, against the provider simulator."""

from __future__ import annotations

import itertools
import json
import time

import httpx
import pytest

from tests.conftest import GITHUB_SECRET
from tests.support import call_dead, call_tool, wait_final, wait_for
from worker.errors import BadParams, NotFound, RateLimited, Unauthorized

pytestmark = pytest.mark.usefixtures("fleet_worker")
ISSUES = r"^/repos/octo/hello/issues$"


# ---- every tool, happy path ---------------------------------------------------------


def test_search_repositories_returns_a_page_and_the_total(client, sim):
    result = call_tool(client, "github.search_repositories", {"query": "hello", "limit": 2})

    assert result["count"] == 2
    assert result["total_count"] == 3
    assert result["items"][0]["full_name"] == "octo/hello"
    assert result["next_cursor"] is not None
    assert len(sim.requests(provider="github")) == 1


def test_get_repository(client, sim):
    repo = call_tool(client, "github.get_repository", {"repo": "octo/hello"})

    assert (repo["full_name"], repo["default_branch"], repo["language"]) == (
        "octo/hello",
        "main",
        "Python",
    )
    assert repo["topics"] == ["demo", "python"]


def test_list_commits_filters_by_author(client, sim):
    result = call_tool(client, "github.list_commits", {"repo": "octo/hello", "author": "alice"})

    assert result["count"] == 2
    assert {c["author"] for c in result["items"]} == {"alice"}
    assert all(len(c["sha"]) == 40 for c in result["items"])
    assert len(sim.requests(provider="github")) == 1  # no lazy per-commit fetches


def test_create_issue_then_list_it_by_label(client, sim):
    created = call_tool(
        client,
        "github.create_issue",
        {
            "repo": "octo/hello",
            "title": "Agent found a bug",
            "labels": ["bug"],
            "assignees": ["alice"],
            "body": "steps",
        },
    )

    listed = call_tool(client, "github.list_issues", {"repo": "octo/hello", "labels": ["bug"]})

    assert created["title"] == "Agent found a bug"
    assert created["assignees"] == ["alice"]
    assert created["number"] in [i["number"] for i in listed["items"]]
    assert len(sim.requests(provider="github", method="POST", path=ISSUES)) == 1


def test_comment_on_issue(client, sim):
    run = client.call(
        "github.comment_on_issue", {"repo": "octo/hello", "number": 1, "body": "Seen it"}
    )
    comment = run.get(timeout=20)

    [posted] = sim.requests(provider="github", method="POST", path=r"/issues/1/comments$")
    # the run's hidden marker follows the text (a retry finds exactly this comment)
    assert posted["body"] == {"body": f"Seen it\n\n<!-- toolfleet:{run.id} -->"}
    assert comment["number"] == 1
    assert comment["id"]


def test_list_pull_requests_and_get_one_with_its_files(client, sim):
    pulls = call_tool(client, "github.list_pull_requests", {"repo": "octo/hello", "state": "all"})
    listing_requests = len(sim.requests(provider="github"))
    pull = call_tool(client, "github.get_pull_request", {"repo": "octo/hello", "number": 8})

    assert {p["number"] for p in pulls["items"]} == {8, 9, 10}
    assert listing_requests == 1
    assert (pull["head"], pull["base"], pull["changed_files"]) == ("feature/retry", "main", 2)
    assert [f["filename"] for f in pull["files"]] == ["src/hello/client.py", "tests/test_client.py"]
    assert pull["additions"] == sum(f["additions"] for f in pull["files"])
    assert pull["files"][0]["patch"].startswith("@@")


def test_create_pr_review_with_a_line_comment(client, sim):
    review = call_tool(
        client,
        "github.create_pr_review",
        {
            "repo": "octo/hello",
            "number": 8,
            "body": "Please rename",
            "event": "REQUEST_CHANGES",
            "comments": [{"path": "src/hello/client.py", "line": 3, "body": "rename this"}],
        },
    )

    assert review["state"] == "CHANGES_REQUESTED"
    [sent] = sim.requests(provider="github", method="POST", path=r"/pulls/8/reviews$")
    assert sent["body"]["event"] == "REQUEST_CHANGES"
    assert sent["body"]["comments"] == [
        {"path": "src/hello/client.py", "line": 3, "body": "rename this"}
    ]


# ---- errors, retries, rate limits -----------------------------------------------------


def test_401_is_unauthorized_after_one_attempt(client, sim):
    sim.inject("github", path=r"^/repos/octo/hello$", unauthorized=True, times=None)

    row = call_dead(client, "github.get_repository", {"repo": "octo/hello"}, Unauthorized)

    assert row["attempts"] == 1
    assert row["error"]["provider_status"] == 401
    assert "Bad credentials" in row["error"]["message"]


def test_404_is_not_found_after_one_attempt(client, sim):
    row = call_dead(client, "github.get_repository", {"repo": "octo/missing"}, NotFound)

    assert row["attempts"] == 1
    assert row["error"]["provider_status"] == 404


def test_422_is_bad_params_with_the_validation_errors(client, sim):
    sim.inject(
        "github",
        method="POST",
        path=ISSUES,
        status=422,
        body={
            "message": "Validation Failed",
            "errors": [{"field": "title", "code": "missing_field"}],
        },
    )

    row = call_dead(client, "github.create_issue", {"repo": "octo/hello", "title": "x"}, BadParams)

    assert row["attempts"] == 1
    assert "title missing_field" in row["error"]["message"]


def test_429_retry_after_is_honoured_and_the_worker_stays_free(client, sim):
    sim.inject("github", method="POST", path=ISSUES, status=429, retry_after=2)

    slow = client.call("github.create_issue", {"repo": "octo/hello", "title": "later"})
    wait_for(lambda: sim.requests(provider="github", method="POST", path=ISSUES), what="429")
    quick = call_tool(client, "jira.list_projects", {})
    quick_done = time.time()
    waits = call_tool(client, "github.get_repository", {"repo": "octo/widgets"})
    created = slow.get(timeout=30)

    first, second = sim.requests(provider="github", method="POST", path=ISSUES)
    [read] = sim.requests(provider="github", path=r"^/repos/octo/widgets$")
    assert second["timestamp"] - first["timestamp"] >= 2.0
    assert quick["count"] == 2
    assert quick_done < second["timestamp"]  # the worker served another provider meanwhile
    # GitHub asks for no request at all until Retry-After: the fleet's read waited too.
    assert read["timestamp"] - first["timestamp"] >= 2.0 - 0.05
    assert waits["full_name"] == "octo/widgets"
    assert created["title"] == "later"
    row = wait_final(slow.id)
    assert (row["status"], row["attempts"]) == ("succeeded", 2)


def test_primary_rate_limit_waits_for_the_reset(client, sim):
    sim.inject("github", path=r"^/repos/acme/api$", rate_limit="primary", retry_after=2)

    run = client.call("github.get_repository", {"repo": "acme/api"})

    assert run.get(timeout=30)["full_name"] == "acme/api"
    limited, ok = sim.requests(provider="github", path=r"^/repos/acme/api$")
    assert limited["status"] == 403
    assert ok["timestamp"] - limited["timestamp"] >= 1.0  # reset is whole seconds
    assert wait_final(run.id)["attempts"] == 2


def test_secondary_rate_limit_is_rate_limited_with_its_retry_after(client, sim):
    sim.inject(
        "github", path=r"^/repos/acme/api$", rate_limit="secondary", retry_after=1, times=None
    )

    run = client.call("github.get_repository", {"repo": "acme/api"})

    with pytest.raises(RateLimited, match="secondary rate limit"):
        run.get(timeout=40)
    row = wait_final(run.id)
    assert (row["attempts"], row["error"]["type"]) == (5, "RateLimited")
    stamps = [r["timestamp"] for r in sim.requests(provider="github", path=r"^/repos/acme/api$")]
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(stamps))


def test_5xx_then_success(client, sim):
    sim.inject("github", path=r"^/repos/octo/hello/pulls$", status=502)

    result = call_tool(client, "github.list_pull_requests", {"repo": "octo/hello"})

    assert result["count"] == 2
    assert [r["status"] for r in sim.requests(provider="github", path=r"/pulls$")] == [502, 200]


def test_pagination_walks_every_issue_exactly_once_across_pages(client, sim):
    seen, cursor, pages = [], None, 0
    while True:
        params = {"repo": "octo/hello", "state": "all", "limit": 3}
        result = call_tool(client, "github.list_issues", {**params, "cursor": cursor})
        seen += [issue["number"] for issue in result["items"]]
        pages += 1
        cursor = result["next_cursor"]
        if cursor is None:
            break

    assert pages >= 4
    assert sorted(seen) == list(range(1, 11))
    # One request per page: no lazy per-item fetches behind the scenes.
    assert [r["query"].get("per_page") for r in sim.requests(provider="github")] == ["3"] * pages


@pytest.mark.parametrize(
    ("tool", "params", "complaint"),
    [
        ("github.create_issue", {"repo": "octo/hello"}, "title: Field required"),
        ("github.create_issue", {"repo": "not a repo", "title": "x"}, "repo: String should match"),
        ("github.list_issues", {"repo": "octo/hello", "limit": 0}, "limit: Input should be"),
        ("github.list_issues", {"repo": "octo/hello", "state": "stale"}, "state: Input should be"),
        ("github.create_pr_review", {"repo": "o/r", "number": 1, "event": "MERGE"}, "event"),
        ("github.get_pull_request", {"repo": "o/r", "number": 0}, "number: Input should be"),
    ],
)
def test_malformed_params_never_reach_github(client, sim, tool, params, complaint):
    with pytest.raises(BadParams, match=complaint):
        client.call(tool, params)

    assert sim.requests(provider="github") == []


def test_a_cursor_from_elsewhere_is_bad_params(client, sim):
    row = call_dead(
        client, "github.list_commits", {"repo": "octo/hello", "cursor": "%%%"}, BadParams
    )

    assert "not a cursor this tool returned" in row["error"]["message"]
    assert sim.requests(provider="github") == []


# ---- GitHub Enterprise Server --------------------------------------------------------


def test_github_enterprise_without_rate_limiting_answers_calls_and_writes_once(client, sim):
    # Given a GHES whose rate limiting is disabled: no x-ratelimit-* headers on any
    # response, and GET /rate_limit answers 404 "Rate limiting is not enabled."
    sim.configure(github_rate_limiting_disabled=True)

    created = client.call("github.create_issue", {"repo": "octo/hello", "title": "on GHES"})
    issue = created.get(timeout=20)
    repo = call_tool(client, "github.get_repository", {"repo": "octo/hello"})

    assert issue["title"] == "on GHES" and repo["full_name"] == "octo/hello"
    row = wait_final(created.id)
    assert (row["status"], row["attempts"]) == ("succeeded", 1)
    assert not sim.requests(provider="github", path=r"^/rate_limit$")  # never asked
    assert len(sim.requests(provider="github", method="POST", path=ISSUES)) == 1
    # (the switch does what GHES does)
    auth = {"Authorization": f"token {GITHUB_SECRET}"}
    with httpx.Client(base_url=sim.github_url, headers=auth) as gh:
        answer, limits = gh.get("/repos/octo/hello"), gh.get("/rate_limit")
    assert answer.status_code == 200
    assert not [name for name in answer.headers if name.startswith("x-ratelimit")]
    assert (limits.status_code, limits.json()["message"]) == (404, "Rate limiting is not enabled.")


def test_doctor_on_github_enterprise_without_rate_limiting_says_so(client, sim):
    sim.configure(github_rate_limiting_disabled=True)

    report = call_tool(client, "fleet.doctor", {})

    github = next(check for check in report["checks"] if check["name"] == "github")
    assert github["verdict"] == "ok", github
    assert "not enabled" in json.dumps(github)

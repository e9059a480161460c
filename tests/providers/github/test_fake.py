"""GitHub's part of the simulator, exercised through PyGithub (tests.simulated)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
from github import Github, GithubException
from github.GithubException import BadCredentialsException, UnknownObjectException

from simulator import Simulator
from tests import simulated
from tests.simulated import GITHUB_TOKEN, github

# The simulator tests' own simulator and clients (a module of the tests shares them).
sim, gh = simulated.sim, simulated.gh
_fresh_world = simulated.fresh_world


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


MARKER = "<!-- toolfleet:run-1 -->"


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

"""Jira tools through a real worker and the ``jira`` library, against the provider simulator.

The JQL builder and the error mapper are also tested on their own (pure functions);
the simulator's own JQL parser serves as the oracle for what a query means.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from jira import JIRAError
from pydantic import ValidationError

from tasks.jira.client import make_client
from tasks.jira.errors import map_error
from tasks.jira.fake.jql import BoolOp, Clause, parse
from tasks.jira.jql import build_jql, jql_string
from tasks.jira.params import SearchIssues
from tests.conftest import JIRA_SECRET
from tests.support import call_tool, letters_of, wait_final, wait_for
from worker import ledger
from worker.errors import (
    BadParams,
    Conflict,
    NotFound,
    RateLimited,
    Unauthorized,
    Unavailable,
)
from worker.settings import Settings

pytestmark = pytest.mark.usefixtures("fleet_worker")
CREATE = r"^/rest/api/2/issue$"
SEARCH = r"^/rest/api/2/search$"
ORDER = "ORDER BY updated DESC, key ASC"


def search(client, **params) -> dict:
    return call_tool(client, "jira.search_issues", params)


def jql_sent(sim) -> str:
    """The JQL of the last search the simulator received."""
    return sim.requests(provider="jira", path=SEARCH)[-1]["query"]["jql"]


# ---- every tool, happy path ---------------------------------------------------------


def test_list_projects_pages_through_every_project(client, sim):
    first = call_tool(client, "jira.list_projects", {"limit": 1})
    second = call_tool(client, "jira.list_projects", {"limit": 1, "cursor": first["next_cursor"]})

    assert first["items"] == [{"key": "DEMO", "name": "Demo Project", "id": "10000"}]
    assert [p["key"] for p in second["items"]] == ["OPS"]
    assert second["next_cursor"] is None


def test_find_project_exact_name_in_any_case_then_contains(client, sim):
    exact = client.call("jira.find_project", {"name": "demo PROJECT"})
    partial = call_tool(client, "jira.find_project", {"name": "operat"})

    assert exact.get(timeout=20)["key"] == "DEMO"
    assert partial == {"key": "OPS", "name": "Operations", "id": "10001"}
    row = wait_final(exact.id)
    assert (row["status"], row["attempts"], row["queue"]) == ("succeeded", 1, "jira")


def test_find_project_unknown_name_is_not_found_listing_close_names(client, sim):
    with pytest.raises(NotFound, match=r"no project named 'Demo Projekt'; close: Demo Project"):
        call_tool(client, "jira.find_project", {"name": "Demo Projekt"})


def test_search_issues_by_filters_returns_items_total_and_the_jql_it_ran(client, sim):
    result = search(client, project="DEMO", status="To Do", assignee="alice")

    assert result["jql"] == f'project = "DEMO" AND status = "To Do" AND assignee = "alice" {ORDER}'
    assert jql_sent(sim) == result["jql"]
    assert (result["total"], result["count"], result["next_cursor"]) == (1, 1, None)
    assert result["items"] == [
        {
            "key": "DEMO-1",
            "id": "10001",
            "summary": "Login page returns 500",
            "status": "To Do",
            "assignee": "alice",
            "priority": "High",
            "labels": ["api"],
            "updated": "2024-02-01T10:00:00.000+0000",
            "issue_type": "Bug",
        }
    ]


def test_search_issues_with_raw_jql_passes_it_as_is(client, sim):
    jql = "project = OPS AND priority in (Highest, High) ORDER BY key ASC"

    result = search(client, jql=jql)

    assert jql_sent(sim) == jql == result["jql"]
    assert [i["key"] for i in result["items"]] == ["OPS-1", "OPS-2"]


def test_created_issue_is_found_by_search(client, sim):
    call_ = client.call(
        "jira.create_issue",
        {
            "project": "DEMO",
            "summary": "Agent found a bug",
            "description": "Steps to reproduce",
            "issue_type": "Bug",
            "priority": "High",
            "labels": ["agent-found"],
            "components": ["Backend"],
        },
    )
    created = call_.get(timeout=20)

    found = search(client, labels=["agent-found"])

    assert created["key"] == "DEMO-8"
    assert created["url"].endswith("/jira/browse/DEMO-8")
    assert [(i["key"], i["id"], i["issue_type"]) for i in found["items"]] == [
        ("DEMO-8", created["id"], "Bug")
    ]
    [posted] = sim.requests(provider="jira", method="POST", path=CREATE)
    assert posted["body"]["fields"]["components"] == [{"name": "Backend"}]
    row = wait_final(call_.id)
    assert (row["status"], row["attempts"], row["result"]) == ("succeeded", 1, created)


def test_add_comment(client, sim):
    run = client.call("jira.add_comment", {"issue": "DEMO-2", "body": "Seen on staging"})
    comment = run.get(timeout=20)

    [posted] = sim.requests(provider="jira", method="POST", path=r"/issue/DEMO-2/comment$")
    assert posted["body"] == {
        "body": "Seen on staging",
        # a property naming the run: a retry after a lost response finds exactly this one
        "properties": [{"key": "toolfleet", "value": {"run_id": run.id}}],
    }
    assert comment["issue"] == "DEMO-2"
    assert comment["id"]
    assert comment["created"]


def test_transition_by_name_in_any_case_changes_the_status(client, sim):
    moved = call_tool(
        client, "jira.transition_issue", {"issue": "DEMO-1", "transition": "start PROGRESS"}
    )

    after = search(client, jql="key = DEMO-1")

    assert moved == {"issue": "DEMO-1", "transition": "Start Progress", "status": "In Progress"}
    assert after["items"][0]["status"] == "In Progress"


def test_unknown_transition_is_bad_params_listing_the_available_ones(client, sim):
    with pytest.raises(BadParams, match=r"no transition 'Close'; available: Start Progress$"):
        call_tool(client, "jira.transition_issue", {"issue": "DEMO-1", "transition": "Close"})

    assert sim.requests(provider="jira", method="POST") == []


def test_list_users(client, sim):
    result = call_tool(client, "jira.list_users", {"query": "alice"})

    assert result["items"] == [
        {
            "name": "alice",
            "account_id": "5f0000000000000000000001",
            "display_name": "Alice Liddell",
            "email": "alice@example.com",
            "active": True,
        }
    ]
    assert result["next_cursor"] is None


# ---- pagination ---------------------------------------------------------------------------


def test_search_pages_follow_next_cursor_until_none_every_issue_once(client, sim):
    keys, cursor, pages = [], None, 0
    while True:
        result = search(client, project="DEMO", limit=2, cursor=cursor)
        keys += [i["key"] for i in result["items"]]
        pages += 1
        cursor = result["next_cursor"]
        if cursor is None:
            break

    assert pages == 4
    assert sorted(keys) == sorted(f"DEMO-{n}" for n in range(1, 8))
    assert len(keys) == len(set(keys)) == result["total"] == 7
    starts = [r["query"].get("startAt", "0") for r in sim.requests(provider="jira", path=SEARCH)]
    assert starts == ["0", "2", "4", "6"]


def test_list_users_pages_every_user_once(client, sim):
    names, cursor = [], None
    while True:
        result = call_tool(
            client, "jira.list_users", {"query": "example.com", "limit": 1, "cursor": cursor}
        )
        names += [u["name"] for u in result["items"]]
        cursor = result["next_cursor"]
        if cursor is None:
            break

    assert names == ["sim", "alice", "bob", "carol"]


# ---- errors, retries, rate limits -----------------------------------------------------


def test_401_is_a_dead_letter_unauthorized_after_one_attempt(client, sim):
    sim.inject("jira", method="GET", path=SEARCH, unauthorized=True, times=None)

    call_ = client.call("jira.search_issues", {"project": "DEMO"})

    with pytest.raises(Unauthorized, match="Jira 401: You are not authenticated"):
        call_.get(timeout=20)
    row = wait_final(call_.id)
    assert (row["status"], row["attempts"]) == ("dead", 1)
    assert len(sim.requests(provider="jira", path=SEARCH)) == 1
    [letter] = letters_of(call_.id)
    assert letter["error"]["type"] == "Unauthorized"
    assert letter["error"]["provider_status"] == 401
    assert letter["error"]["request_id"]
    assert JIRA_SECRET not in str(letter)
    # The traceback says where it failed, but not the SDK's text: a JIRAError's
    # str() carries the provider's response headers and body (cookies included).
    assert "JIRAError" in letter["traceback"]
    assert "response headers" not in letter["traceback"].lower()
    assert "Unauthorized: Jira 401" in letter["traceback"]


def test_unknown_issue_is_not_found_after_one_attempt(client, sim):
    call_ = client.call("jira.add_comment", {"issue": "DEMO-999", "body": "hello?"})

    with pytest.raises(NotFound, match="Jira 404: Issue does not exist"):
        call_.get(timeout=20)
    row = wait_final(call_.id)
    assert (row["status"], row["attempts"]) == ("dead", 1)
    assert len(sim.requests(provider="jira", method="POST")) == 1


@pytest.mark.parametrize(
    ("tool", "params", "complaint"),
    [
        (
            "jira.create_issue",
            {"project": "DEMO", "summary": "x", "issue_type": "Spaceship"},
            "Jira 400: issuetype: valid issue type is required",
        ),
        (
            "jira.search_issues",
            {"jql": "project = DEMO AND ORDER"},
            "Jira 400: Error in the JQL Query",
        ),
    ],
)
def test_jira_400_is_bad_params_after_one_attempt(client, sim, tool, params, complaint):
    call_ = client.call(tool, params)

    with pytest.raises(BadParams, match=complaint):
        call_.get(timeout=20)
    row = wait_final(call_.id)
    assert (row["status"], row["attempts"], row["error"]["provider_status"]) == ("dead", 1, 400)


def test_429_waits_retry_after_in_the_queue_while_the_worker_serves_others(client, sim):
    sim.inject("jira", method="POST", path=CREATE, status=429, retry_after=2, times=1)

    first = client.call("jira.create_issue", {"project": "OPS", "summary": "Rotate keys"})
    wait_for(lambda: (ledger.get_run(first.id) or {}).get("status") == "retrying")
    other = call_tool(client, "github.get_repository", {"repo": "octo/hello"})
    other_done = time.time()
    same_scope = client.call("jira.list_projects", {})
    created = first.get(timeout=20)

    limited, accepted = sim.requests(provider="jira", method="POST", path=CREATE)
    assert (limited["status"], accepted["status"]) == (429, 201)
    assert accepted["timestamp"] - limited["timestamp"] >= 2.0
    assert other["full_name"] == "octo/hello"
    assert other_done < accepted["timestamp"]  # the worker served another provider meanwhile
    # Jira's Retry-After held for the whole fleet: the read waited too, parked, not failed.
    assert same_scope.get(timeout=20)["count"] == 2
    (listed,) = sim.requests(provider="jira", path=r"/rest/api/2/project$")
    assert listed["timestamp"] - limited["timestamp"] >= 2.0 - 0.05
    waited = wait_final(same_scope.id)
    assert waited["attempts"] == 1
    assert waited["parks"] >= 1
    row = wait_final(first.id)
    assert (row["status"], row["attempts"], row["result"]) == ("succeeded", 2, created)


def test_503_then_success_succeeds_on_the_second_attempt(client, sim):
    sim.inject("jira", method="POST", path=r"/issue/DEMO-3/comment$", status=503, times=1)

    call_ = client.call("jira.add_comment", {"issue": "DEMO-3", "body": "retried once"})

    assert call_.get(timeout=20)["issue"] == "DEMO-3"
    row = wait_final(call_.id)
    assert (row["status"], row["attempts"]) == ("succeeded", 2)
    posts = sim.requests(provider="jira", method="POST", path=r"/issue/DEMO-3/comment$")
    assert [p["status"] for p in posts] == [503, 201]
    assert letters_of(call_.id) == []


def test_a_dropped_connection_on_a_read_is_retried(client, sim):
    sim.inject("jira", method="GET", path=r"/project$", drop_response=True, times=1)

    call_ = client.call("jira.list_projects", {})

    assert call_.get(timeout=20)["count"] == 2
    row = wait_final(call_.id)
    assert (row["status"], row["attempts"]) == ("succeeded", 2)
    dropped = [r["dropped"] for r in sim.requests(provider="jira", method="GET", path=r"/project$")]
    assert dropped == [True, False]


@pytest.mark.parametrize(
    ("tool", "params", "complaint"),
    [
        ("jira.create_issue", {"project": "DEMO"}, "summary: Field required"),
        ("jira.create_issue", {"project": "demo", "summary": "x"}, "project: String should"),
        (
            "jira.search_issues",
            {"project": 'DEMO" OR project = OPS'},
            "project: String should match",
        ),
        ("jira.search_issues", {"jql": "project = DEMO", "project": "DEMO"}, "not both"),
        ("jira.search_issues", {"project": "DEMO", "limit": 0}, "limit: Input should be greater"),
        ("jira.search_issues", {"labels": ["two words"]}, "labels.0: String should match"),
        ("jira.search_issues", {"text": "line\nbreak"}, "text: String should match"),
        ("jira.add_comment", {"issue": "DEMO", "body": "x"}, "issue: String should match"),
        ("jira.list_users", {"query": ""}, "query: String should have at least 1"),
        ("jira.list_projects", {"verbose": True}, "verbose: Extra inputs"),
    ],
)
def test_malformed_params_are_refused_before_anything_is_sent(client, sim, tool, params, complaint):
    with pytest.raises(BadParams, match=complaint):
        client.call(tool, params)

    assert sim.requests(provider="jira") == []


# ---- JQL injection ----------------------------------------------------------------------


def test_text_filter_value_stays_one_literal_and_cannot_widen_the_search(client, sim):
    value = 'slow" OR project = "OPS'

    result = search(client, text=value)

    escaped = r'"slow\" OR project = \"OPS"'
    assert jql_sent(sim) == f"(summary ~ {escaped} OR description ~ {escaped}) {ORDER}"
    assert result["items"] == []
    assert result["total"] == 0


def test_escaped_backslash_cannot_close_the_literal(client, sim):
    result = search(client, project="DEMO", labels=['x\\"OR(project=OPS)OR"'])

    assert jql_sent(sim) == r'project = "DEMO" AND labels = "x\\\"OR(project=OPS)OR\"" ' + ORDER
    assert result["total"] == 0


def test_injected_status_is_looked_up_as_one_status_name(client, sim):
    with pytest.raises(BadParams, match=r"The value 'To Do\" OR project = \"OPS' does not exist"):
        search(client, status='To Do" OR project = "OPS')

    assert jql_sent(sim).startswith(r'status = "To Do\" OR project = \"OPS" ')


# ---- pure units: the JQL builder and the error mapper -------------------------------------


def test_jql_string_escapes_backslash_then_quote():
    assert jql_string("plain") == '"plain"'
    assert jql_string('a"b') == r'"a\"b"'
    assert jql_string("a\\b") == r'"a\\b"'
    assert jql_string('\\"') == r'"\\\""'


NASTY = [
    'DEMO" OR project = OPS',
    'x" OR text ~ "y',
    "trailing\\",
    '\\" OR 1=1 OR "',
    "it's (a) ~test~ AND NOT",
    "ORDER BY key",
]


@pytest.mark.parametrize("value", NASTY)
def test_every_filter_value_parses_back_as_exactly_that_one_literal(value):
    params = SearchIssues(status=value, assignee=value, text=value)

    query = parse(build_jql(params))

    assert isinstance(query.where, BoolOp)
    assert query.where.op == "and"
    status, assignee, text = query.where.children
    assert (status.field, status.op, [v.text for v in status.values]) == ("status", "=", [value])
    assert (assignee.field, [v.text for v in assignee.values]) == ("assignee", [value])
    assert isinstance(text, BoolOp)
    assert text.op == "or"
    assert [(c.field, c.op, c.values[0].text) for c in text.children] == [
        ("summary", "~", value),
        ("description", "~", value),
    ]
    assert query.order == [("updated", True), ("key", False)]


def test_labels_are_all_required_and_project_comes_first():
    query = parse(build_jql(SearchIssues(project="OPS", labels=["a", 'b"c'])))

    assert isinstance(query.where, BoolOp)
    assert [(c.field, c.values[0].text) for c in query.where.children if isinstance(c, Clause)] == [
        ("project", "OPS"),
        ("labels", "a"),
        ("labels", 'b"c'),
    ]


def test_updated_since_is_a_relative_period_rounded_to_include_the_whole_window():
    now = datetime(2024, 3, 1, 12, 0, 30, tzinfo=UTC)

    zoned = build_jql(SearchIssues(updated_since=now - timedelta(minutes=90)), now=now)
    naive = build_jql(SearchIssues(updated_since="2024-03-01T10:00:00"), now=now)
    future = build_jql(SearchIssues(updated_since=now + timedelta(minutes=5)), now=now)

    assert zoned == f'updated >= "-90m" {ORDER}'
    assert naive == f'updated >= "-121m" {ORDER}'  # naive means UTC; 120.5 min rounds up
    assert future.startswith('updated >= "+5m"')


def test_no_filters_is_every_issue_in_the_chosen_order():
    assert build_jql(SearchIssues()) == ORDER
    assert build_jql(SearchIssues(order_by="key", order="asc")) == "ORDER BY key ASC"
    assert build_jql(SearchIssues(order_by="priority")) == "ORDER BY priority DESC, key ASC"


def test_jql_and_filters_together_are_refused():
    with pytest.raises(ValidationError, match="either jql or structured filters"):
        SearchIssues(jql="project = DEMO", order_by="created")


def _jira_error(status: int, body: bytes, headers: dict[str, str]) -> JIRAError:
    response = requests.Response()
    response.status_code, response._content = status, body
    response.headers.update(headers)
    response.reason = "Reason"
    return JIRAError("text", status_code=status, response=response)


@pytest.mark.parametrize(
    ("status", "headers", "kind", "retry_after"),
    [
        (403, {}, Unauthorized, None),
        (409, {}, Conflict, None),
        (429, {"Retry-After": "7"}, RateLimited, 7.0),
        (503, {"Retry-After": "3"}, Unavailable, 3.0),
        (502, {"Retry-After": "3"}, Unavailable, None),
    ],
)
def test_error_mapper_classifies_statuses_and_keeps_retry_after(status, headers, kind, retry_after):
    body = b'{"errorMessages": ["nope"], "errors": {"field": "bad"}}'
    error = map_error(_jira_error(status, body, {**headers, "X-AREQUESTID": "r-9"}))

    assert isinstance(error, kind)
    assert error.message == f"Jira {status}: nope; field: bad"
    assert error.details["request_id"] == "r-9"
    assert error.retry_after == retry_after


def test_error_mapper_never_echoes_a_non_json_body_and_maps_network_failures():
    html = map_error(_jira_error(500, b"<html>" + b"x" * 5000 + b"</html>", {}))

    assert (type(html), html.message) == (Unavailable, "Jira 500: Reason")
    assert isinstance(map_error(requests.ConnectionError("refused")), Unavailable)
    assert isinstance(map_error(requests.ReadTimeout("slow")), Unavailable)


@pytest.mark.parametrize("variable", ["JIRA_BASE_URL", "JIRA_USERNAME", "JIRA_API_TOKEN"])
def test_missing_credentials_are_unauthorized_naming_the_variable(variable):
    settings = Settings(**{variable.lower(): None})

    with pytest.raises(Unauthorized, match=f"{variable} is not configured"):
        make_client(settings, "default")

"""Jira's part of the simulator, exercised through the jira library (tests.simulated)."""

from __future__ import annotations

import json

import pytest
from jira import JIRA, JIRAError
from jira.resources import Issue

from simulator import Simulator
from tests import simulated
from tests.simulated import jira

# The simulator tests' own simulator and clients (a module of the tests shares them).
sim, jr = simulated.sim, simulated.jr
_fresh_world = simulated.fresh_world


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

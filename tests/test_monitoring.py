"""The monitoring artifacts in deploy/ are valid and speak only of the exporter's metrics.

promtool (from Debian's ``prometheus`` package) checks the alert rules and the
Prometheus configuration, runs the alerts' unit tests and parses every query
of the Grafana dashboard. Every metric an alert or a panel reads must be one
``fleet metrics`` serves, used as its type allows (rates of counters, deltas of
gauges, quantiles of histogram buckets), and every metric it serves is on the
dashboard. Nothing is started: no Prometheus, no Grafana, no exporter.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml

from tests.test_deploy import METRICS_PORT
from worker.ops.metrics import METRIC_NAMES

REPO = Path(__file__).resolve().parents[1]
PROMETHEUS = REPO / "deploy" / "prometheus"
DASHBOARD = REPO / "deploy" / "grafana" / "toolfleet-dashboard.json"
JOB = "toolfleet"
SEVERITIES = {"critical", "warning", "info"}


class Metric(NamedTuple):
    kind: str  # gauge | counter | histogram
    labels: frozenset[str]


def _metric(kind: str, *labels: str) -> Metric:
    return Metric(kind, frozenset(labels))


# What `fleet metrics` serves, with each family's type and labels; a test holds
# the names to worker.ops.metrics.METRIC_NAMES so the two cannot drift apart.
METRICS: dict[str, Metric] = {
    "toolfleet_queue_depth": _metric("gauge", "queue"),
    "toolfleet_workers": _metric("gauge", "queue"),
    "toolfleet_runs_active": _metric("gauge", "status"),
    "toolfleet_dead_letters": _metric("gauge", "state"),
    "toolfleet_outbox_length": _metric("gauge"),
    "toolfleet_outbox_failed": _metric("gauge"),
    "toolfleet_governor_tokens": _metric("gauge", "scope"),
    "toolfleet_governor_closed": _metric("gauge", "scope"),
    "toolfleet_circuit_open": _metric("gauge", "provider"),
    "toolfleet_sync_lag_seconds": _metric("gauge", "sync"),
    "toolfleet_sync_consecutive_failures": _metric("gauge", "sync"),
    "toolfleet_source_up": _metric("gauge", "source"),
    "toolfleet_runs_total": _metric("counter", "tool", "status"),
    "toolfleet_attempts_total": _metric("counter", "tool"),
    "toolfleet_parks_total": _metric("counter", "tool"),
    "toolfleet_lost_runs_total": _metric("counter", "outcome"),
    "toolfleet_run_duration_seconds": _metric("histogram", "tool"),
    "toolfleet_provider_call_duration_seconds": _metric("histogram", "tool"),
}
# Prometheus' own series about the scrape, which alerts may read too.
SCRAPE_SERIES = {"up": _metric("gauge")}
TARGET_LABELS = {"job", "instance"}  # added to every scraped series


def exposed_series(metrics: dict[str, Metric]) -> dict[str, Metric]:
    """Every series name in the exposition: a histogram is its _bucket, _sum and _count."""
    series: dict[str, Metric] = {}
    for name, metric in metrics.items():
        if metric.kind == "histogram":
            series[f"{name}_bucket"] = Metric("counter", metric.labels | {"le"})
            series[f"{name}_sum"] = Metric("counter", metric.labels)
            series[f"{name}_count"] = Metric("counter", metric.labels)
        else:
            series[name] = metric
    return series


EXPOSED = exposed_series(METRICS)


# ---- reading PromQL, just enough ------------------------------------------------------

_STRING = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|`[^`]*`")
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
# Not after a word character, `$` or `.`: durations (15m), numbers, Grafana variables.
_IDENTIFIER = re.compile(r"(?<![\w:.$])([A-Za-z_:][\w:]*)(\s*\()?")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "group_left", "group_right", "inf", "nan"}
_BY = re.compile(r"\bby\s*\(([^)]*)\)")
_RATE_OF = re.compile(r"\b(rate|irate|increase)\(\s*([A-Za-z_:][\w:]*)\s*\)")
_CHANGE_OF = re.compile(r"\b(delta|idelta|deriv|predict_linear)\(\s*([A-Za-z_:][\w:]*)\s*[,)]")
_QUANTILE_OF = re.compile(r"histogram_quantile\(\s*[\d.]+\s*,.*?\(([A-Za-z_:][\w:]*)\s*\)")


def skeleton(expr: str) -> str:
    """The expression without strings, label matchers, ranges and grouping clauses."""
    for pattern in (_STRING, _MATCHERS, _RANGE, _GROUPING):
        expr = pattern.sub(" ", expr)
    return expr


def metric_names(expr: str) -> set[str]:
    """The series an expression selects (identifiers that are not functions or keywords)."""
    return {
        name
        for name, call in _IDENTIFIER.findall(skeleton(expr))
        if not call and name not in _KEYWORDS
    }


def output_labels(expr: str) -> set[str]:
    """The labels an expression's results can carry (for `{{ $labels.x }}` in templates)."""
    grouping = _BY.search(expr)
    if grouping:
        return {label.strip() for label in grouping.group(1).split(",")}
    if expr.lstrip().startswith("absent("):
        return set(re.findall(r'(\w+)="', expr))
    series = EXPOSED | SCRAPE_SERIES
    return TARGET_LABELS.union(*(series[name].labels for name in metric_names(expr)))


def type_errors(expr: str) -> list[str]:
    """Functions applied to series of the wrong type."""
    errors = []
    bare = skeleton(expr)
    for function, name in _RATE_OF.findall(bare):
        if EXPOSED[name].kind != "counter":
            errors.append(f"{function}() of {EXPOSED[name].kind} {name}")
    for function, name in _CHANGE_OF.findall(bare):
        if EXPOSED[name].kind != "gauge":
            errors.append(f"{function}() of {EXPOSED[name].kind} {name}")
    if "histogram_quantile" in expr:
        for name in _QUANTILE_OF.findall(bare):
            if not name.endswith("_bucket"):
                errors.append(f"histogram_quantile() of {name}")
        kept = [{label.strip() for label in g.split(",")} for g in _BY.findall(expr)]
        if not any("le" in labels for labels in kept):
            errors.append("histogram_quantile() without `by (le)`: the buckets are summed away")
    return errors


def test_the_promql_reader_finds_what_it_should():
    # The checks below are only as good as this reader.
    expr = (
        "histogram_quantile(0.95, sum by (tool, le) (rate(toolfleet_run_duration_seconds_bucket"
        '{tool=~"github.*|up"}[$__rate_interval]))) > 0 and on (tool) '
        "deriv(toolfleet_queue_depth[15m]) - toolfleet_outbox_length offset 15m"
    )
    assert metric_names(expr) == {
        "toolfleet_run_duration_seconds_bucket",
        "toolfleet_queue_depth",
        "toolfleet_outbox_length",
    }
    assert output_labels(expr) == {"tool", "le"}
    assert type_errors(expr) == []
    assert type_errors("rate(toolfleet_queue_depth[5m])") == [
        "rate() of gauge toolfleet_queue_depth"
    ]
    assert type_errors("deriv(toolfleet_runs_total[5m])") == [
        "deriv() of counter toolfleet_runs_total"
    ]
    assert type_errors("histogram_quantile(0.5, sum(rate(toolfleet_run_duration_seconds_sum[5m])))")
    assert output_labels("toolfleet_sync_lag_seconds > 3600") == {"sync", "job", "instance"}


# ---- promtool -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not on PATH: it comes with Debian's `prometheus` package")
    return path


def run_promtool(promtool: str, *args: str | Path, cwd: Path) -> str:
    done = subprocess.run(
        [promtool, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def test_the_alert_rules_pass_promtool_check(promtool):
    output = run_promtool(promtool, "check", "rules", "alerts.yml", cwd=PROMETHEUS)

    assert f"SUCCESS: {len(alert_rules())} rules found" in output


def test_the_prometheus_config_passes_promtool_check_with_its_rules(promtool, tmp_path):
    # A copy: the rule file's path is relative to the config, wherever it is run.
    for name in ("prometheus.yml", "alerts.yml"):
        shutil.copy(PROMETHEUS / name, tmp_path / name)

    output = run_promtool(promtool, "check", "config", tmp_path / "prometheus.yml", cwd=REPO)

    assert "SUCCESS: 1 rule files found" in output
    assert f"SUCCESS: {len(alert_rules())} rules found" in output


def test_the_alerts_unit_tests_pass(promtool):
    output = run_promtool(promtool, "test", "rules", "alerts_test.yml", cwd=PROMETHEUS)

    assert "SUCCESS" in output


def test_promtool_fails_an_alert_that_no_longer_fires(promtool, tmp_path):
    # The unit tests can fail: an alert whose threshold moved out of reach.
    shutil.copy(PROMETHEUS / "alerts_test.yml", tmp_path)
    rules = (PROMETHEUS / "alerts.yml").read_text()
    (tmp_path / "alerts.yml").write_text(rules.replace("> 3600", "> 360000"))

    done = subprocess.run(
        [promtool, "test", "rules", "alerts_test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode != 0
    assert "ToolfleetSyncLagging" in done.stdout + done.stderr


def test_every_dashboard_query_is_valid_promql(promtool, tmp_path):
    # Grafana's interval variables become durations; then promtool parses each
    # query as a recording rule.
    rules = []
    for panel, target in dashboard_targets():
        expr = re.sub(r"\$__(rate_interval|interval|range)\b", "5m", target["expr"])
        assert "$" not in expr, f"{panel['title']}: a variable Prometheus cannot know"
        rules.append({"record": f"dashboard:panel{panel['id']}:{target['refId']}", "expr": expr})
    rule_file = tmp_path / "dashboard-queries.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))

    output = run_promtool(promtool, "check", "rules", rule_file, cwd=tmp_path)

    assert f"SUCCESS: {len(rules)} rules found" in output


# ---- the alerts -----------------------------------------------------------------------


@cache
def alert_rules() -> tuple[dict[str, Any], ...]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return tuple(rule for group in groups for rule in group["rules"])


def _alert_id(rule: dict[str, Any]) -> str:
    return rule["alert"]


@pytest.mark.parametrize("rule", alert_rules(), ids=_alert_id)
def test_every_alert_reads_only_the_exporters_metrics_as_their_types_allow(rule):
    names = metric_names(rule["expr"])

    assert names, "an alert on no series"
    assert names <= set(EXPOSED) | set(SCRAPE_SERIES)
    assert type_errors(rule["expr"]) == []
    if "up" in names:  # the scrape's own series: this job's only
        assert f'up{{job="{JOB}"}}' in rule["expr"]


@pytest.mark.parametrize("rule", alert_rules(), ids=_alert_id)
def test_every_alert_waits_has_a_severity_and_explains_itself_from_its_labels(rule):
    assert re.fullmatch(r"\d+[smh]", rule["for"])
    assert rule["labels"]["severity"] in SEVERITIES
    annotations = rule["annotations"]
    assert set(annotations) == {"summary", "description"}
    # Each label a template names is one the expression's results carry.
    for text in annotations.values():
        used = set(re.findall(r"\$labels\.(\w+)", text))
        assert used <= output_labels(rule["expr"]), text


def test_alert_names_are_unique_and_cover_the_operators_questions():
    names = [rule["alert"] for rule in alert_rules()]

    assert len(names) == len(set(names))
    read = set().union(*(metric_names(rule["expr"]) for rule in alert_rules()))
    # Backlog, dead letters, circuits, syncs, workers gone, sources, the exporter.
    assert {
        "toolfleet_queue_depth",
        "toolfleet_workers",
        "toolfleet_dead_letters",
        "toolfleet_circuit_open",
        "toolfleet_sync_lag_seconds",
        "toolfleet_source_up",
        "up",
    } <= read


def test_every_alert_is_unit_tested_both_firing_and_silent():
    tests = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())
    cases = [case for test in tests["tests"] for case in test["alert_rule_test"]]

    assert tests["rule_files"] == ["alerts.yml"]
    for rule in alert_rules():
        outcomes = [bool(c.get("exp_alerts")) for c in cases if c["alertname"] == rule["alert"]]
        assert True in outcomes, f"{rule['alert']}: never shown firing"
        assert False in outcomes, f"{rule['alert']}: never shown silent"


def test_the_scrape_config_reads_the_exporter_as_the_alerts_expect():
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == JOB]
    (static,) = job["static_configs"]

    assert config["rule_files"] == ["alerts.yml"]
    assert job["metrics_path"] == "/metrics"
    # One target: every scrape reads the whole fleet.
    (target,) = static["targets"]
    assert target.rsplit(":", 1)[1] == str(METRICS_PORT)


# ---- the dashboard --------------------------------------------------------------------


@cache
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def all_panels() -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    panels = []
    for panel in dashboard()["panels"]:
        panels += [panel, *panel.get("panels", [])]
    return panels


def dashboard_targets() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(p, t) for p in all_panels() for t in p.get("targets", [])]


def test_the_dashboard_is_importable_with_any_prometheus():
    board = dashboard()
    (variable,) = [v for v in board["templating"]["list"] if v["type"] == "datasource"]
    source = {"type": "prometheus", "uid": f"${{{variable['name']}}}"}
    panels = all_panels()

    assert board["title"] and board["uid"] and board["schemaVersion"] >= 36
    assert board.get("id") is None  # importing creates it
    assert variable["query"] == "prometheus"
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        assert panel["type"] in {"row", "timeseries", "stat", "state-timeline"}
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24
        if panel["type"] == "row":
            continue
        # Every query goes to the chosen data source: no uid of someone's Grafana.
        assert panel["datasource"] == source, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == source
            assert target["expr"].strip() and target["refId"]


@pytest.mark.parametrize(
    ("panel", "target"),
    dashboard_targets(),
    ids=lambda x: x.get("title", x.get("refId")),
)
def test_every_dashboard_query_reads_only_the_exporters_metrics_as_their_types_allow(panel, target):
    names = metric_names(target["expr"])

    assert names, panel["title"]
    assert names <= set(EXPOSED), panel["title"]
    assert type_errors(target["expr"]) == [], panel["title"]
    # A legend names only labels the query keeps.
    legend_labels = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
    assert legend_labels <= output_labels(target["expr"]), panel["title"]


def test_the_dashboard_shows_every_metric_the_exporter_serves():
    read = set().union(*(metric_names(t["expr"]) for _, t in dashboard_targets()))
    shown = {name for name in METRICS if name in read or f"{name}_bucket" in read}

    assert shown == set(METRICS)


def test_the_metric_list_here_is_what_the_exporter_serves():
    assert set(METRICS) == set(METRIC_NAMES)

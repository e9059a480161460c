"""Evaluate parsed JQL against the fake Jira's issues.

Values are resolved before matching, like Jira does, so an unknown project/status/user is a
400 ("The value 'X' does not exist for the field 'project'.") rather than an empty result.
Text search (``~``) is word-based: every word of the value must occur in the field.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from simulator.state import Record
from tasks.jira.fake.jql import Clause, JqlError, Node, Query, Value, parse
from tasks.jira.fake.state import JiraState

EQUALITY_OPS = {"=", "!=", "in", "not in", "is", "is not"}
DATE_OPS = {"=", "!=", ">", ">=", "<", "<=", "is", "is not"}
TEXT_OPS = {"~", "!~", "is", "is not"}
TEXT_FIELDS = {"summary", "description", "comment", "text"}
EQUALITY_FIELDS = {"project", "status", "assignee", "reporter", "priority", "issuetype",
                   "resolution", "key", "id", "labels", "component"}  # fmt: skip
DATE_FIELDS = {"created", "updated", "resolved", "resolutiondate"}
ALIASES = {
    "type": "issuetype",
    "issuekey": "key",
    "components": "component",
    "resolutiondate": "resolved",
    "createddate": "created",
    "updateddate": "updated",
}
SORTABLE = {"key", "id", "created", "updated", "priority", "status", "summary", "assignee",
            "issuetype", "project", "resolved"}  # fmt: skip
PERIOD = re.compile(r"([-+]?)\s*((?:\d+\s*[wdhm]\s*)+)")


def _username(st: JiraState, raw: str) -> str | None:
    low = raw.lower()
    for name, u in st.users.items():
        if low in (name, u["email"].lower(), u["account_id"], u["display"].lower()):
            return name
    return None


def _single(st: JiraState, fld: str, issue: Record) -> list[str]:
    """Comparable lower-case values of an equality field for one issue."""
    values = {
        "project": [issue["project"]],
        "status": [issue["status"]],
        "assignee": [issue["assignee"]],
        "reporter": [issue["reporter"]],
        "priority": [issue["priority"]],
        "issuetype": [issue["issuetype"]],
        "resolution": [issue["resolution"]],
        "key": [issue["key"]],
        "id": [issue["id"]],
        "labels": issue["labels"],
        "component": issue["components"],
    }[fld]
    return [v.lower() for v in values if v]


def _resolve(st: JiraState, fld: str, value: Value) -> str:
    """Canonical lower-case value for equality fields, validating existence like Jira."""
    if value.kind == "func":
        if value.text.lower() == "currentuser" and fld in ("assignee", "reporter"):
            return st.myself
        raise JqlError(f"Unable to find JQL function '{value.text}()'.")
    raw, found = value.text, None
    if fld == "project":
        found = next(
            (
                p["key"]
                for p in st.projects.values()
                if raw.lower() in (p["key"].lower(), p["id"], p["name"].lower())
            ),
            None,
        )
    elif fld in ("assignee", "reporter"):
        found = _username(st, raw)
    elif fld in ("status", "priority", "issuetype"):
        table = {"status": st.statuses, "priority": st.priorities, "issuetype": st.issue_types}[fld]
        found = next((n for n, f in table.items() if raw.lower() in (n.lower(), f["id"])), None)
    elif fld == "resolution":
        found = raw if raw.lower() in ("done", "unresolved") else None
        if found and found.lower() == "unresolved":
            return ""
    elif fld == "component":
        names = {c.lower() for p in st.projects.values() for c in p["components"]}
        found = raw if raw.lower() in names else None
    elif fld == "key":
        if raw.upper() not in st.issues:
            raise JqlError(f"An issue with key '{raw}' does not exist for field 'key'.")
        found = raw
    else:  # labels, id: any value is acceptable
        found = raw
    if found is None:
        raise JqlError(f"The value '{raw}' does not exist for the field '{fld}'.")
    return found.lower()


def _date(fld: str, value: Value, now: datetime) -> datetime:
    if value.kind == "func":
        name = value.text.lower()
        if name == "now":
            return now
        if name == "startofday":
            return now.replace(hour=0, minute=0, second=0)
        raise JqlError(f"Unable to find JQL function '{value.text}()'.")
    raw = value.text.strip()
    if m := PERIOD.fullmatch(raw):
        units = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}
        delta = timedelta()
        for amount, unit in re.findall(r"(\d+)\s*([wdhm])", m.group(2)):
            delta += timedelta(**{units[unit]: int(amount)})
        return now - delta if m.group(1) == "-" else now + delta
    for fmt in ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d"):
        try:
            return datetime.strptime(raw, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise JqlError(
        f"Date value '{raw}' for field '{fld}' is invalid. Valid formats include: "
        "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', "
        "or a period format e.g. '-5d', '4w 2d'."
    )


def _text(issue: Record, fld: str) -> str:
    parts = {
        "summary": [issue["summary"]],
        "description": [issue["description"] or ""],
        "comment": [c["body"] for c in issue["comments"]],
    }
    parts["text"] = parts["summary"] + parts["description"] + parts["comment"]
    return " ".join(parts[fld]).lower()


Matcher = Callable[[Record], bool]
DATE_COMPARE = {"=": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge,
                "<": operator.lt, "<=": operator.le}  # fmt: skip


def _empty_matcher(st: JiraState, fld: str, op: str) -> Matcher:
    def has_value(i: Record) -> bool:
        if fld in TEXT_FIELDS:
            return bool(_text(i, fld).strip())
        return bool(i.get(fld) if fld in DATE_FIELDS else _single(st, fld, i))

    wants_empty = op in ("is", "=")
    return lambda i: has_value(i) != wants_empty


def _text_matcher(fld: str, op: str, value: Value) -> Matcher:
    words = re.findall(r"\w+", value.text.lower())

    def hit(i: Record) -> bool:
        return bool(words) and all(w in _text(i, fld) for w in words)

    return hit if op == "~" else lambda i: not hit(i)


def _date_matcher(fld: str, op: str, value: Value, now: datetime) -> Matcher:
    when, compare = _date(fld, value, now), DATE_COMPARE[op]
    return lambda i: i.get(fld) is not None and compare(i[fld], when)


def _equality_matcher(st: JiraState, fld: str, op: str, values: list[Value]) -> Matcher:
    wanted = {_resolve(st, fld, v) for v in values}
    positive = op in ("=", "in")
    if "" in wanted:  # "resolution = Unresolved"
        return lambda i: not _single(st, fld, i) if positive else bool(_single(st, fld, i))
    if positive:
        return lambda i: bool(wanted & set(_single(st, fld, i)))
    # Jira's negative operators never match issues where the field is empty.
    return lambda i: bool(_single(st, fld, i)) and not wanted & set(_single(st, fld, i))


def _compile_clause(st: JiraState, c: Clause, now: datetime) -> Matcher:
    fld = ALIASES.get(c.field.lower(), c.field.lower())
    if fld not in TEXT_FIELDS | DATE_FIELDS | EQUALITY_FIELDS:
        raise JqlError(
            f"Field '{c.field}' does not exist or you do not have permission to view it."
        )
    ops = TEXT_OPS if fld in TEXT_FIELDS else DATE_OPS if fld in DATE_FIELDS else EQUALITY_OPS
    if c.op not in ops:
        raise JqlError(f"The operator '{c.op}' is not supported by the '{c.field}' field.")
    if any(v.kind == "empty" for v in c.values):
        return _empty_matcher(st, fld, c.op)
    if fld in TEXT_FIELDS:
        return _text_matcher(fld, c.op, c.values[0])
    if fld in DATE_FIELDS:
        return _date_matcher(fld, c.op, c.values[0], now)
    return _equality_matcher(st, fld, c.op, c.values)


def _compile(st: JiraState, node: Node, now: datetime) -> Matcher:
    if isinstance(node, Clause):
        return _compile_clause(st, node, now)
    parts = [_compile(st, child, now) for child in node.children]
    if node.op == "and":
        return lambda i: all(p(i) for p in parts)
    if node.op == "or":
        return lambda i: any(p(i) for p in parts)
    return lambda i: not parts[0](i)


def _sort_key(st: JiraState, fld: str) -> Callable[[Record], tuple]:
    def key(i: Record) -> tuple:
        if fld == "key":
            return (i["project"], int(i["key"].rsplit("-", 1)[1]))
        if fld == "priority":  # Highest has the lowest id but sorts as the biggest value
            return (-int(st.priorities[i["priority"]]["id"]),)
        if fld == "id":
            return (int(i["id"]),)
        value = i.get(fld)
        return (value is None, value or "")

    return key


def search(st: JiraState, jql: str, now: datetime | None = None) -> list[Record]:
    """Issues matching ``jql`` in the requested order (default: newest first)."""
    query: Query = parse(jql)
    now = now or datetime.now(UTC)
    matcher = _compile(st, query.where, now) if query.where else (lambda _i: True)
    hits = [i for i in st.issues.values() if matcher(i)]
    order = query.order or [("created", True)]
    for fld, desc in reversed(order):
        name = ALIASES.get(fld.lower(), fld.lower())
        if name not in SORTABLE:
            raise JqlError(f"Not able to sort using field '{fld}'.")
        hits.sort(key=_sort_key(st, name), reverse=desc)
    return hits

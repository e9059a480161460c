"""Chaos: bad input for every tool in the catalog, generated rather than written by hand.

- Params generated from a tool's published JSON schema pass the client's validation:
  the schema an agent reads promises no more than the model keeps.
- Mutated params — a field of a wrong type, an extra field, a string too long,
  nesting too deep, a NUL character — are refused by the client before anything
  is published.
- A sample of the same mutations sent raw to a real worker (``send_task``, no client
  validation) each end ``dead`` with a ``BadParams`` dead letter; no request reaches
  a provider, and the worker goes on serving.

Generation is derandomized (the same inputs on every run), so CI is stable; the
counts of inputs tried are printed (``pytest -s``) and asserted.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from celery import signals
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from tests.support import Reply, wait_final
from worker import ledger
from worker.errors import BadParams
from worker.runtime.catalog import ToolSpec, catalog
from worker.runtime.params import MAX_CHARS, MAX_DEPTH

TOOLS = sorted(catalog())
KINDS = ("wrong_type", "extra_field", "huge_string", "deep_nesting", "nul_byte")
# What the refusal of each kind of mutation says (a field's name is checked apart).
COMPLAINTS = {
    "wrong_type": r"Input should be|valid",
    "extra_field": r"Extra inputs are not permitted",
    "huge_string": r"at most \d+ characters|larger than [\d,]+ characters",
    "deep_nesting": rf"nested deeper than {MAX_DEPTH} levels",
    "nul_byte": r"NUL characters are refused",
}
VALID_EXAMPLES = 20
MUTATED_EXAMPLES = 6  # per tool and kind of mutation
RAW_CANDIDATES = 3  # generated per tool and kind; the last one is sent raw
COMMON = {
    "deadline": None,
    "derandomize": True,  # the same inputs every run: CI stays stable
    "database": None,  # nothing remembered between runs, nothing written to the tree
    "print_blob": False,
    "suppress_health_check": [HealthCheck.too_slow],
}

# Cross-field rules the models check and the published schemas leave to descriptions:
# JSON Schema says them only with combinators at the top of the schema, which
# tool-calling APIs refuse in a tool's input schema. Generation keeps to them by
# drawing from one of their alternatives: ({field: what it must also be}, required);
# ``False``: the field is absent, ``NONE``: absent or null.
NONE = {"type": "null"}
FILTERS = ["project", "status", "assignee", "labels", "text", "updated_since", "order_by", "order"]
CROSS_FIELD: dict[str, list[tuple[dict[str, Any], list[str]]]] = {
    "http.request": [({"json": NONE}, []), ({"body": NONE}, [])],  # json or body
    "jira.search_issues": [({"jql": NONE}, []), (dict.fromkeys(FILTERS, False), [])],
    "slack.post_message": [  # text or blocks
        ({"text": {"type": "string", "minLength": 1}}, ["text"]),
        ({"blocks": {"type": "array"}}, ["blocks"]),
    ],
}


def _window_in_order(params: dict[str, Any]) -> bool:
    oldest, latest = params.get("oldest"), params.get("latest")
    return not (oldest and latest) or Decimal(oldest) <= Decimal(latest)


# Not even a combinator says "oldest <= latest" of two numeric strings.
CROSS_FIELD_CHECK: dict[str, Callable[[dict[str, Any]], bool]] = {
    "slack.get_channel_history": _window_in_order,
}

TRIED: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def summary() -> Iterator[None]:
    yield
    print(
        f"\nbad-input properties: {TRIED['generated valid']} generated params accepted, "
        f"{TRIED['refused by client']} mutated params refused by the client, "
        f"{TRIED['refused by worker']} sent raw and refused by the worker"
    )


# ---- strategies ------------------------------------------------------------------


def _no_nul(value: Any) -> bool:
    """No NUL in any string or key (``allow_x00=False`` spares only the schema's strings)."""
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, dict):
        return all(_no_nul(k) and _no_nul(v) for k, v in value.items())
    return all(_no_nul(v) for v in value) if isinstance(value, list) else True


def _variant(
    schema: dict[str, Any], constraints: dict[str, Any], required: list[str]
) -> dict[str, Any]:
    properties = schema["properties"]
    narrowed = {
        name: False if c is False else {"allOf": [properties[name], c]}
        for name, c in constraints.items()
    }
    return {
        **schema,
        "properties": {**properties, **narrowed},
        "required": [*schema.get("required", []), *required],
    }


def valid_params(spec: ToolSpec) -> st.SearchStrategy[dict[str, Any]]:
    """Params generated from the tool's published schema, within the fleet-wide rules
    (worker.runtime.params: no NUL; depth and size stay far below the bounds here)."""
    schema = spec.params_schema()
    variants = [_variant(schema, *alt) for alt in CROSS_FIELD.get(spec.name, [])] or [schema]
    strategy = st.one_of([from_schema(v, allow_x00=False) for v in variants]).filter(_no_nul)
    check = CROSS_FIELD_CHECK.get(spec.name)
    return strategy.filter(check) if check else strategy


def _properties(spec: ToolSpec) -> dict[str, dict[str, Any]]:
    return spec.params_schema().get("properties", {})


def _branches(prop: dict[str, Any]) -> list[dict[str, Any]]:
    return prop.get("anyOf", [prop])


def _json_types(prop: dict[str, Any]) -> set[str] | None:
    """The JSON types a property takes; None for any value at all."""
    types: set[str] = set()
    for branch in _branches(prop):
        if "$ref" in branch:
            types.add("object")
        elif isinstance(branch.get("type"), str):
            types.add(branch["type"])
        elif "enum" in branch:
            types |= {_json_type(v) for v in branch["enum"]}
        else:
            return None
    return types


def _json_type(value: Any) -> str:
    return {str: "string", bool: "boolean", int: "integer", float: "number"}.get(
        type(value), "null" if value is None else "object"
    )


SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=10)


def _wrong_values(prop: dict[str, Any]) -> st.SearchStrategy[Any] | None:
    """Values of a JSON type the property does not take and pydantic's lax mode never
    converts into one it does (a string may become a number or a date; a container or
    null never becomes a scalar, a scalar never a container); None if there are none."""
    types = _json_types(prop)
    if types is None:
        return None
    options = []
    if "null" not in types:
        options.append(st.none())
    if "object" not in types:
        options.append(st.dictionaries(st.text(max_size=5), SCALARS, max_size=3))
    if "array" not in types:
        options.append(st.lists(SCALARS, max_size=3))
    if types <= {"object", "array", "null"}:
        options.append(st.text(max_size=10) | st.integers() | st.booleans())
    elif types <= {"string", "null"} and not any("format" in b for b in _branches(prop)):
        options.append(st.integers() | st.floats(allow_nan=False) | st.booleans())
    return st.one_of(options) if options else None


def _string_fields(spec: ToolSpec) -> dict[str, int | None]:
    """Fields that take a string, with their maxLength (None: bounded only fleet-wide)."""
    found = {}
    for name, prop in _properties(spec).items():
        strings = [b for b in _branches(prop) if b.get("type") == "string"]
        if strings and "enum" not in strings[0] and "format" not in strings[0]:
            found[name] = strings[0].get("maxLength")
    return found


def _free_form_fields(spec: ToolSpec) -> list[str]:
    """Fields taking any JSON object (or any value) inside which nothing is checked."""
    return [
        name
        for name, prop in _properties(spec).items()
        if _json_types(prop) is None
        or any(b.get("additionalProperties") is True for b in _branches(prop))
    ]


def applicable(spec: ToolSpec, kind: str) -> bool:
    if kind == "wrong_type":
        return any(_wrong_values(p) is not None for p in _properties(spec).values())
    if kind in ("huge_string", "nul_byte"):
        return bool(_string_fields(spec) or _free_form_fields(spec))
    if kind == "deep_nesting":
        return bool(_properties(spec))
    return True  # an extra field: every params model forbids them


def _nested(levels: list[bool], leaf: Any) -> Any:
    for as_list in levels:
        leaf = [leaf] if as_list else {"k": leaf}
    return leaf


@st.composite
def mutated(draw: st.DrawFn, spec: ToolSpec, kind: str) -> tuple[str, dict[str, Any]]:
    """``(the field it changed, params)``: valid params with one thing made invalid."""
    params = dict(draw(valid_params(spec)))
    props = _properties(spec)
    if kind == "wrong_type":
        field = draw(
            st.sampled_from(sorted(n for n, p in props.items() if _wrong_values(p) is not None))
        )
        params[field] = draw(_wrong_values(props[field]))  # type: ignore[arg-type]
    elif kind == "extra_field":
        known = set(props) | set(spec.params_model.model_fields)
        field = draw(
            st.text(
                st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=12
            )
        )
        field = field if field not in known else field + "_extra"
        params[field] = draw(SCALARS)
    elif kind == "huge_string":
        strings = _string_fields(spec)
        field = draw(st.sampled_from(sorted(strings) or _free_form_fields(spec)))
        limit = strings.get(field) or MAX_CHARS  # past the field's bound or the fleet's
        huge = draw(st.characters(codec="utf-8", exclude_characters="\x00")) * (
            limit + draw(st.integers(1, 99))
        )
        params[field] = huge if field in strings else {"huge": huge}
    elif kind == "deep_nesting":
        field = draw(st.sampled_from(sorted(_free_form_fields(spec)) or sorted(props)))
        levels = draw(st.lists(st.booleans(), min_size=MAX_DEPTH, max_size=MAX_DEPTH + 60))
        params[field] = _nested(levels, draw(SCALARS))
    else:  # nul_byte: in a string field's value, or in a key or value inside a free-form one
        strings = _string_fields(spec)
        field = draw(st.sampled_from(sorted(strings) or _free_form_fields(spec)))
        text = params.get(field) if isinstance(params.get(field), str) else draw(st.text())
        at = draw(st.integers(0, len(text)))
        text = text[:at] + "\x00" + text[at:]
        if field not in strings:
            text = draw(st.sampled_from([{text: "v"}, {"k": text}, {"k": [1, {"k": text}]}]))
        params[field] = text
    return field, params


# ---- the schema says what the model does ------------------------------------------


def _patterns(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            else:
                yield from _patterns(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _patterns(item)


def test_every_tool_forbids_extra_fields_and_its_schema_says_so():
    for name in TOOLS:
        spec = catalog()[name]
        assert spec.params_model.model_config.get("extra") == "forbid", name
        assert spec.params_schema()["additionalProperties"] is False, name


def test_published_patterns_mean_the_same_to_pydantic_and_to_json_schema():
    # JSON Schema reads a pattern as ECMA-262, where \d, \w and \b are ASCII; pydantic's
    # regex engine reads them as Unicode (Arabic-Indic digits made a valid Slack ts).
    for name in TOOLS:
        for pattern in _patterns(catalog()[name].params_schema()):
            assert not re.search(r"\\[dDwWbB]", pattern), f"{name}: {pattern}"


# ---- the client ----------------------------------------------------------------------


@pytest.mark.parametrize("tool", TOOLS)
def test_params_generated_from_the_schema_pass_the_client(client, tool):
    spec, accepted = client.spec(tool), []

    @settings(max_examples=VALID_EXAMPLES, **COMMON)
    @given(valid_params(spec))
    def passes(params: dict[str, Any]) -> None:
        assert client.validate(tool, params) is params  # BadParams fails with the example
        accepted.append(params)

    passes()

    TRIED["generated valid"] += len(accepted)
    assert len(accepted) >= (VALID_EXAMPLES // 2 if _properties(spec) else 1)


@pytest.fixture
def published() -> Iterator[list[str]]:
    """The names of the tasks this process publishes meanwhile."""
    names: list[str] = []

    def seen(sender: str | None = None, **_: Any) -> None:
        names.append(str(sender))

    signals.before_task_publish.connect(seen, weak=False)
    yield names
    signals.before_task_publish.disconnect(seen)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("tool", TOOLS)
def test_mutated_params_are_refused_by_the_client_before_publishing(
    client, sim, published, tool, kind
):
    spec, refused = client.spec(tool), []
    if not applicable(spec, kind):
        pytest.skip(f"{tool} has no field a {kind} can go in")

    @settings(max_examples=MUTATED_EXAMPLES, **COMMON)
    @given(mutated(spec, kind))
    def is_refused(mutation: tuple[str, dict[str, Any]]) -> None:
        field, params = mutation
        with pytest.raises(BadParams, match=COMPLAINTS[kind]) as caught:
            client.call(tool, params)
        assert caught.value.message.startswith(f"{tool}: ")
        if kind == "wrong_type":
            assert f"{tool}: {field}" in caught.value.message
        refused.append(params)

    is_refused()

    TRIED["refused by client"] += len(refused)
    assert len(refused) >= MUTATED_EXAMPLES // 2
    assert published == []
    assert sim.requests() == []


# ---- a real worker -----------------------------------------------------------------


def _last_mutation(spec: ToolSpec, kind: str) -> tuple[str, dict[str, Any]]:
    """The last of a few mutations generated (the first ones are the most minimal)."""
    drawn: list[tuple[str, dict[str, Any]]] = []

    @settings(max_examples=RAW_CANDIDATES, **COMMON)
    @given(mutated(spec, kind))
    def collect(mutation: tuple[str, dict[str, Any]]) -> None:
        drawn.append(mutation)

    collect()
    return drawn[-1]


@pytest.mark.usefixtures("fleet_worker")
def test_mutated_params_sent_raw_are_dead_letters_and_reach_no_provider(
    client, sim, server, fleet_worker
):
    never = server.route("/never", Reply(200, {"reached": True}))
    sends = []
    for tool in TOOLS:
        spec = catalog()[tool]
        for kind in (k for k in KINDS if applicable(spec, k)):
            field, params = _last_mutation(spec, kind)
            if "url" in params and field != "url":  # were it valid, it would come here
                params["url"] = never
            with pytest.raises(BadParams):  # the client would have refused it
                client.validate(tool, params)
            sends.append((tool, kind, params))

    results = [client.app.send_task(tool, kwargs=params) for tool, _, params in sends]
    rows = [wait_final(result.id, timeout=60) for result in results]

    letters = {x["run_id"]: x for x in ledger.list_letters(limit=len(rows) + 1000)}
    for (tool, kind, _), result, row in zip(sends, results, rows, strict=True):
        what = f"{tool} with a {kind}"
        assert (row["status"], row["attempts"]) == ("dead", 0), what
        assert row["error"]["type"] == "BadParams", what
        with pytest.raises(BadParams):
            result.get(timeout=10)
        letter = letters.get(result.id)
        assert letter is not None, f"{what}: no dead letter"
        assert letter["error"]["type"] == "BadParams", what
        if kind == "nul_byte":  # kept, with the NUL made storable
            assert "\ufffd" in json.dumps(letter["params"], ensure_ascii=False), what
    assert sim.requests() == []
    assert server.requests_to("/never") == []
    sent = {result.id for result in results}
    crashed = [x for x in fleet_worker.text().splitlines() if "raised unexpected" in x]
    assert not [x for x in crashed if any(run_id in x for run_id in sent)]
    TRIED["refused by worker"] += len(rows)
    assert len(rows) >= 4 * len(TOOLS)  # every tool, most kinds

    # The worker lives and serves a valid call, which does reach the server.
    assert fleet_worker.alive()
    alive = server.route("/alive", Reply(200, {"alive": True}))
    assert client.call("http.request", {"url": alive}, wait=True, timeout=20)["body"] == {
        "alive": True
    }

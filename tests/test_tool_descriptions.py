"""What agents read about a tool is plain, whole sentences: the docstring's first paragraph
without reST markup, the same in the catalog, MCP, OpenAI and the README's table."""

from __future__ import annotations

import re

import pytest

from tests.support import REPO
from worker.runtime.catalog import catalog
from worker.runtime.describe import from_docstring, plain

README = (REPO / "README.md").read_text()
ROLE = re.compile(r":[\w.:+-]+:`")


@pytest.mark.parametrize(
    ("marked", "expected"),
    [
        ("and ``ok`` false", "and ok false"),
        (":class:`~worker.errors.BadParams` or :py:func:`resolve`", "BadParams or resolve"),
        (
            ":ref:`the policy <policy>` and `the docs <https://example.com>`_",
            "the policy and the docs",
        ),
        ("`Name`_, `anonymous`__ and `default role`", "Name, anonymous and default role"),
        ("*emphasis*, **strong**, *a* and *b*", "emphasis, strong, a and b"),
        ("5 * 3 * 2 matches *.py, a\\*b", "5 * 3 * 2 matches *.py, a*b"),
        ("``X-Id: <run id>`` and ``*args*``", "X-Id: <run id> and *args*"),
        ("For example::", "For example:"),
    ],
)
def test_inline_markup_becomes_plain_text(marked: str, expected: str):
    assert plain(marked) == expected


def test_a_description_is_the_first_paragraph_on_one_line_never_cut():
    doc = """Check the fleet: who the
        fleet acts as, and ``ok`` false.   Two sentences.

        Implementation notes (``_helper``) that agents never see.
        """

    assert from_docstring(doc, "fleet.x") == (
        "Check the fleet: who the fleet acts as, and ok false. Two sentences."
    )


@pytest.mark.parametrize("doc", [None, "", "  \n\n  "])
def test_a_tool_without_a_docstring_is_described_by_its_name(doc: str | None):
    assert from_docstring(doc, "fleet.x") == "fleet.x"


def test_every_catalog_description_is_one_plain_paragraph_of_whole_sentences():
    for name, spec in catalog().items():
        text = spec.description

        assert "``" not in text and not ROLE.search(text), f"{name}: reST markup"
        assert "\n" not in text and "  " not in text, f"{name}: more than one paragraph or line"
        assert text.endswith("."), f"{name}: not a whole sentence: {text!r}"
        assert spec.as_mcp()["description"] == text
        assert spec.as_openai()["function"]["description"] == text


def test_the_readme_table_holds_each_tools_full_description():
    # Regression: the table took a description's first line and cut fleet.doctor at "who the".
    for name, spec in catalog().items():
        row = re.search(rf"^\| `{re.escape(name)}` \|(.*)\|$", README, re.M)
        assert row is not None, f"{name}: no row in the README's tool table"
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", row.group(1))]

        assert cells[2] == spec.description.replace("|", "\\|"), name

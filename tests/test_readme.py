"""The README stays true: its tool list is the catalog's, its config table covers every knob."""

from __future__ import annotations

import re

from click.testing import CliRunner

from tests.support import REPO
from worker.cli import main
from worker.settings import Settings

README = (REPO / "README.md").read_text()


def test_readme_tool_table_is_generated_from_the_catalog():
    generated = CliRunner().invoke(main, ["tools", "--markdown"]).output.strip()
    section = re.search(r"<!-- tools:begin -->\n(.*?)\n<!-- tools:end -->", README, re.S)

    assert section is not None
    assert section.group(1).strip() == generated, "run `fleet tools --markdown` into the README"


def test_every_setting_is_documented_in_the_configuration_table():
    prefix = Settings.model_config["env_prefix"]
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names.add(alias.choices[0] if alias is not None else f"{prefix}{name}".upper())

    undocumented = {n for n in names if f"| `{n}` |" not in README}

    assert undocumented == set()


def test_the_first_two_commands_run_the_fleet_and_the_tests():
    blocks = re.findall(r"```sh\n(.*?)```", README, re.S)
    commands = [line for line in blocks[0].splitlines() if line and not line.startswith("#")]

    assert commands[0].endswith("fleet up")
    assert commands[1].endswith(".venv/bin/pytest")
    ci = (REPO / ".ci" / "run").read_text()
    assert commands[1] in ci


def test_every_exported_metric_is_documented():
    from worker.ops.metrics import METRIC_NAMES

    documented = set(re.findall(r"^\| `(toolfleet_\w+)` \|", README, re.M))

    assert documented == set(METRIC_NAMES)

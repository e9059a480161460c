"""Every provider tool's catalog example (the README's example calls) runs as is."""

from __future__ import annotations

import pytest

from worker.runtime.catalog import catalog

# The HTTP tools' examples name public hosts, which tests never reach.
OFFLINE = {"http.request", "webhook.send"}
EXAMPLES = sorted(name for name in catalog() if name not in OFFLINE)


@pytest.mark.usefixtures("fleet_worker")
@pytest.mark.parametrize("tool", EXAMPLES)
def test_the_catalog_example_succeeds_against_the_simulator(client, sim, tool):
    example = catalog()[tool].example()

    result = client.call(tool, example).get(timeout=20)

    assert isinstance(result, dict)
    assert result  # a useful answer, not an empty one

"""``python -m worker.cli``: the ``fleet`` command (how ``fleet up`` starts its children)."""

from worker.cli import run

run()

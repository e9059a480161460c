"""`fleet doctor`: check Redis, the ledger, the workers (and how they are configured) and
each provider's credentials."""

from __future__ import annotations

import click

MARKS = {"ok": "✓", "skipped": "-", "failed": "✗"}


@click.command()
@click.option("--json", "as_json", is_flag=True)
def doctor(as_json: bool) -> None:
    """Check that the fleet can work: Redis, the ledger and its migration, a worker per
    queue, how the workers are configured (asked, beside this shell's own settings), and
    each provider's credentials this shell holds (who the fleet acts as, the limits in
    force). Exits 1 when something is wrong."""
    from worker.app import app
    from worker.cli.output import echo_json
    from worker.ops.doctor import report, run_checks

    outcome = report(run_checks(app))
    if as_json:
        echo_json(outcome)
    else:
        for check in outcome["checks"]:
            click.echo(f"{MARKS[check['verdict']]} {check['name']:<8} {check['detail']}")
            lines = check["data"].get("limits") or check["data"].get("views") or {}
            for name, value in lines.items():
                click.echo(f"{'':11}{name}: {value}")
        failed = [c["name"] for c in outcome["checks"] if c["verdict"] == "failed"]
        click.echo(f"\n{'all good' if not failed else 'problems: ' + ', '.join(failed)}")
    if not outcome["ok"]:
        raise SystemExit(1)

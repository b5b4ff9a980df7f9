"""`dockhand doctor`: every check, ✓/✗ with the fix in one line; exits 1 when something needed is missing."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.context import load_settings, print_json


def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
) -> None:
    """Check this installation: Python, database, Docker, data directory, GitHub, Slack, Anthropic, workers."""
    from bot.doctor import CheckState, run_checks

    checks = run_checks(load_settings())
    failed = any(c.state is CheckState.FAIL for c in checks)
    if as_json:
        print_json({"ok": not failed, "checks": [c.as_dict() for c in checks]})
    else:
        for check in checks:
            typer.echo(f"{check.state.mark} {check.area:<10} {check.name:<16} {check.detail}")
            if check.fix and check.state in (CheckState.FAIL, CheckState.WARN):
                typer.echo(f"  {'':<10} {'':<16} fix: {check.fix}")
        counts = {state: sum(c.state is state for c in checks) for state in CheckState}
        summary = ", ".join(f"{n} {state.value}" for state, n in counts.items() if n)
        typer.echo(f"\n{'not ready' if failed else 'ready'}: {summary}")
    raise typer.Exit(1 if failed else 0)

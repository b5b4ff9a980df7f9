"""Keeping what the install and the test runs leave in the checkout out of the agent's change."""

from __future__ import annotations

import shlex

from core.errors import StageFailedError
from core.sandboxing import ExecRequest, LiveSandboxLike

# Never part of a change: what test runs leave behind anywhere in the tree (what the install left is
# recorded path by path before the tests run, see `exclude_leftovers`).
TEST_LEFTOVERS = ("__pycache__/", "*.pyc", ".pytest_cache/", ".coverage", ".nyc_output/")


def exclude_leftovers(box: LiveSandboxLike) -> None:
    """Keep out of the change exactly what the install added (a venv, node_modules, egg-info, a lock file
    npm wrote…), as anchored paths in .git/info/exclude, plus the usual test-run droppings."""
    status = box.exec(ExecRequest(command="git status --porcelain=v1 -z --untracked-files=normal", timeout_seconds=120))
    if not status.ok:
        raise StageFailedError(f"git status failed in the sandbox: {status.stderr.strip()[-500:]}")
    added = [entry[3:] for entry in status.stdout.split("\0") if entry.startswith("?? ")]
    patterns = [*TEST_LEFTOVERS, *("/" + _glob_escape(path) for path in added)]
    listing = "\n".join(patterns)
    done = box.exec(
        ExecRequest(command=f"printf '%s\\n' {shlex.quote(listing)} >> .git/info/exclude", timeout_seconds=60)
    )
    if not done.ok:
        raise StageFailedError(f"could not record the install's files: {done.stderr.strip()[-500:]}")


def _glob_escape(path: str) -> str:
    return "".join("\\" + ch if ch in "*?[\\!#" else ch for ch in path)

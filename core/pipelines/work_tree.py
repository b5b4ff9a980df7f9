"""The agent's work in the sandbox's checkout, read and put back without touching the index it works with: a
snapshot is the tree of everything it changed (a git tree id, written through a scratch index), a diff is taken the
same way, and a snapshot can be restored (what was changed since is undone, install leftovers are kept)."""

from __future__ import annotations

import shlex

from core.errors import DockhandError
from core.sandboxing import ExecRequest, LiveSandboxLike

_SCRATCH = (
    'export GIT_INDEX_FILE=.git/dockhand-scratch-index && rm -f "$GIT_INDEX_FILE" && '
    '{ cp .git/index "$GIT_INDEX_FILE" 2>/dev/null || true; } && git add --all .'
)


def _run(box: LiveSandboxLike, command: str, what: str) -> str:
    done = box.exec(ExecRequest(command=command, timeout_seconds=300))
    if not done.ok:
        raise DockhandError(f"could not {what}: {done.stderr.strip()[-300:]}")
    return done.stdout


def snapshot(box: LiveSandboxLike) -> str:
    """The checkout as it is now (tracked, new and deleted files; not what git ignores), as a tree id."""
    return _run(box, f"{_SCRATCH} && git write-tree", "take a snapshot of the change").strip()


def work_diff(box: LiveSandboxLike, base: str, *, context: int = 3) -> str:
    """The change against commit `base`, new files included, the agent's index left as it was."""
    command = f"{_SCRATCH} && git diff --cached --no-color --no-ext-diff -U{context} {shlex.quote(base)}"
    return _run(box, command, "read the change")


def restore(box: LiveSandboxLike, tree: str) -> None:
    """Put the checkout back as `snapshot` found it: files changed, added or deleted since are undone."""
    quoted = shlex.quote(tree)
    _run(
        box,
        "export GIT_INDEX_FILE=.git/dockhand-scratch-index && "
        f"git read-tree {quoted} && git checkout-index --all --force && "
        "git ls-files --others --exclude-standard -z | xargs -0 -r rm -f --",
        "restore the change",
    )

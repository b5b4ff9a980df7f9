"""What a change task records beside its result: the agent's spending, what the change touches (from git),
and the change's diff (an artifact the approval screens show)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

DIFF_NAME = "change.diff"


def stored_diff(artifacts_dir: Path, task_id: str, attempt: int | None = None) -> str:
    """The change a resolution task wants to publish, as its commit stage stored it ("" when there is none);
    `attempt`: that one of its several attempts' change."""
    folder = artifacts_dir / task_id / (f"attempt-{attempt}" if attempt is not None else "")
    try:
        return (folder / DIFF_NAME).read_text(errors="replace")
    except OSError:
        return ""


def agent_figures(turns: int, usage: dict[str, int], cost: float, budget: float | None) -> dict[str, Any]:
    return {"turns": turns, "usage": usage, "cost_usd": round(cost, 6), "budget_usd": budget}


def numstat(text: str) -> dict[str, Any]:
    """`git diff --numstat -z` (added, removed, path; NUL-terminated) as totals and a per-file list."""
    changed = []
    for entry in text.split("\0"):
        parts = entry.split("\t", 2)
        if len(parts) != 3:
            continue
        added, removed, path = parts
        changed.append(
            {
                "path": path,
                "insertions": int(added) if added.isdigit() else 0,
                "deletions": int(removed) if removed.isdigit() else 0,
                "binary": added == "-",
            }
        )
    return {
        "files": len(changed),
        "insertions": sum(c["insertions"] for c in changed),
        "deletions": sum(c["deletions"] for c in changed),
        "changed": changed,
    }

"""What a change task records beside its result: the agent's spending, what the change touches (from git),
and the change's diff (an artifact the approval screens show)."""

from __future__ import annotations

from typing import Any


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

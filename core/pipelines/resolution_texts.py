"""What people read about a resolution: the summary they approve, and the pull request's body."""

from __future__ import annotations

from typing import Any

from core.attempt_choice import attempts_table
from core.evidence import evidence_lines
from core.results import IssueResolutionResult


def approval_summary(result: dict[str, Any]) -> str:
    change = result.get("change") or {}
    tests = result.get("tests") or {}
    agent = result.get("agent") or {}
    draft = result.get("pull_request_draft") or {}
    lines = [
        f"PR: {draft.get('title', '')}",
        f"change: {change.get('files', 0)} files, +{change.get('insertions', 0)} -{change.get('deletions', 0)}",
        f"tests: {tests.get('status', 'not run')}",
        f"agent: {agent.get('turns', 0)} turns, ${agent.get('cost_usd', 0):.4f}",
    ]
    lines += [f"  {f['path']} (+{f['insertions']} -{f['deletions']})" for f in change.get("changed", [])[:20]]
    parsed = IssueResolutionResult.model_validate(result)
    evidence = evidence_lines(parsed)
    lines += ["evidence:", *(f"  {line}" for line in evidence)] if evidence else []
    return "\n".join(lines + attempts_lines(parsed))


def attempts_lines(result: IssueResolutionResult) -> list[str]:
    """Several attempts: their table, the picked one marked (why: in the evidence); nothing for a single one."""
    if not result.attempts:
        return []
    picked = result.picked.attempt if result.picked else None
    return ["attempts:", *(f"  {row}" for row in attempts_table(result.attempts, picked))]


def request_title(request: str) -> str:
    """A change request's first line, as a short title (the agent's PR draft gets its own)."""
    first = next((line.strip() for line in request.splitlines() if line.strip()), "change")
    return first if len(first) <= 72 else first[:71].rstrip() + "…"


def pull_request_body(result: dict[str, Any], task_id: str) -> str:
    draft = result["pull_request_draft"]
    tests = result.get("tests") or {}
    agent = result.get("agent") or {}
    approval = result.get("approval") or {}
    request = result.get("request")
    if request:  # a change asked for in words: who asked, and where
        where = f" in {request['in']}" if request.get("in") else ""
        asked = f"Asked for by {request['by']} ({request['from']}){where}."
    else:
        asked = f"Fixes #{result['issue']['number']}"
    lines = [draft["body"].strip(), "", asked, "", "---"]
    parsed = IssueResolutionResult.model_validate(result)
    evidence = evidence_lines(parsed)
    if evidence:
        lines += [
            "**Evidence**",
            *(f"- {line}" if not line.startswith("  ") else f"  - {line.strip()}" for line in evidence),
            "",
        ]
    lines.append("**Tests**")
    for project in tests.get("projects") or []:
        totals = project.get("totals") or {}
        lines.append(
            f"- {project['language']} `{project['root']}` ({project['framework']}): {project['status']}, "
            f"{totals.get('passed', 0)} passed, {totals.get('failed', 0)} failed"
        )
    if not tests.get("projects"):
        lines.append("- no tests were found to run")
    attempts = attempts_lines(parsed)
    if attempts:
        lines += ["", "**Attempts** (`*`: published)", "```", *(row.strip() for row in attempts[1:]), "```"]
    lines += [
        "",
        f"Made by dockhand task `{task_id}`: {agent.get('turns', 0)} agent turns, "
        f"~${agent.get('cost_usd', 0):.2f}" + (f"; approved by {approval['by']}" if approval.get("by") else "") + ".",
    ]
    return "\n".join(lines)

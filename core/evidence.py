"""The evidence a proposed change comes with, said the same way wherever it is shown (the approval request, the
pull request, the Slack thread, the GitHub progress comment, the TUI, `dockhand task`): whether the problem was
reproduced by a test that failed before and passes after, the tests, how much of the changed lines the tests ran,
and what dockhand's own review of the change still doubts. Pure: plain lines, each caller frames them."""

from __future__ import annotations

from core.results import IssueResolutionResult, ReproductionReport

MAX_FINDINGS_SHOWN = 10


def evidence_lines(result: IssueResolutionResult) -> list[str]:
    lines = []
    if result.attempts and result.picked is not None:
        ready, why = sum(a.ready for a in result.attempts), _quiet(result.picked.reason)
        lines.append(f"attempts: {len(result.attempts)} ({ready} with a passing change); {why}")
    if result.reproduction is not None:
        lines.append(_reproduction(result.reproduction))
    if result.tests is not None and result.tests.projects:
        passed = sum(p.totals.passed for p in result.tests.projects)
        failed = sum(p.totals.failed + p.totals.errors for p in result.tests.projects)
        lines.append(f"tests: {result.tests.status}, {passed} passed, {failed} failed")
    elif result.tests is not None:
        lines.append(f"tests: {result.tests.status}")
    covered = [p.diff_coverage for p in result.test_projects if p.diff_coverage]
    total = sum(int(c.get("total") or 0) for c in covered)
    if total:
        ran = sum(int(c.get("covered") or 0) for c in covered)
        lines.append(f"diff coverage: {100 * ran / total:.0f}% ({ran} of the {total} changed lines the tests ran)")
    review = result.self_review
    if review is not None:
        if review.error:
            lines.append(f"self-review: not done ({_quiet(review.error)})")
        else:
            sent = f", {review.sent_back} sent back to the agent" if review.sent_back else ""
            partial = f"; partial: {_quiet('; '.join(review.gaps))}" if review.gaps else ""
            lines.append(f"self-review: {len(review.remaining)} remaining findings{sent}{partial}")
        for note in review.remaining[:MAX_FINDINGS_SHOWN]:
            where = f"{_quiet(note.path)}:{note.line}" if note.line else _quiet(note.path)
            lines.append(f"  {_quiet(note.severity)}: {where}: {_quiet(note.title)}")
    return lines


def as_bullets(lines: list[str], bullet: str = "-") -> list[str]:
    """The lines as a list (Markdown's `-`, Slack's `•`), a finding under its summary one level in."""
    return [f"  {bullet} {line.strip()}" if line.startswith("  ") else f"{bullet} {line}" for line in lines]


def _reproduction(found: ReproductionReport) -> str:
    """Said as code: the test's name and its output are the agent's and the test's words, never markup."""
    if found.status != "reproduced":
        return f"not reproduced: {_quiet(found.reason) or 'no reason given'}"
    after = {True: "passes after", False: "still fails after", None: "not run after"}[found.passes_after]
    why = _failure_line(found.failed_before)
    return f"reproduced ✓ `{_quiet(found.test)}`: failed before the change (`{_quiet(why)}`), {after}"


def _quiet(text: str) -> str:
    """Text from the agent or a test, safe on one line anywhere: no line breaks, no backticks (it cannot leave a
    code span), no @-mentions (a word joiner after each @)."""
    return _one_line(text).replace("`", "'").replace("@", "@\u2060")


def _failure_line(output: str) -> str:
    """The line of a test's output that says why it failed (pytest's `FAILED … - reason`, an assertion…)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for marker in ("FAILED", "Error", "assert", "expected"):
        found = next((line for line in reversed(lines) if marker in line), None)
        if found:
            return _one_line(found)
    return _one_line(lines[-1]) if lines else "no output"


def _one_line(text: str, limit: int = 160) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"

"""Reproduce first: before fixing, the agent writes a test that shows the problem, and dockhand runs it on the
unchanged code (it must fail) and after the fix (it must pass). The test is part of the change.

The agent gets one more tool, `reproduce`: the command that runs its new test (only test files may have changed
when it is called), or the reason no test can show the problem (docs, a refactor, configuration). `submit` is
refused until one of the two was given. What happened is kept as evidence: the failure before, the pass after.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

from core.agent.tools import Submission, Toolbox, ToolResult, truncate
from core.errors import DockhandError
from core.pipelines.test_pipeline import TestRun
from core.sandboxing import ExecRequest, LiveSandboxLike
from core.testrun.coverage import changed_lines

REPRODUCE_TIMEOUT = 600.0
MAX_KEPT_OUTPUT = 3000

REPRODUCE = {
    "name": "reproduce",
    "description": (
        "Before you fix anything: write a test that reproduces the problem (it must fail on the current code, for "
        "the reason the issue describes), then call this with the shell command that runs just that test. "
        "dockhand runs it now (it must fail) and again when you submit (it must pass); the test is part of your "
        "change. Only test files may have changed when you call it. If no test can show the problem (a docs change, "
        "a refactor, configuration), call it with `reason` instead, saying why."
    ),
    "input_schema": {
        "type": "object",
        "properties": {
            "command": {"type": "string", "description": "Runs the reproduction test, e.g. `pytest tests/x.py::t`."},
            "test": {"type": "string", "description": "The test's name, e.g. tests/test_calc.py::test_negative."},
            "reason": {"type": "string", "description": "Why no test can reproduce it (instead of a command)."},
        },
    },
}

# A command that ran no test at all: not a reproduction (a typo'd path, a filter that matched nothing).
_RAN_NO_TEST = re.compile(
    r"no tests ran|collected 0 items|no tests found|file or directory not found|command not found|"
    r"no such file or directory|no test files|testing: warning: no tests to run",
    re.IGNORECASE,
)
_TEST_PATH = re.compile(
    r"(^|/)(tests?|specs?|__tests__|testing)(/|$)|(^|/)test_[^/]*$|_test\.[a-z]+$|\.(test|spec)\.[a-z]+$|"
    r"(^|/)conftest\.py$|Tests?\.[a-z]+$",
    re.IGNORECASE,
)


REPRODUCE_FIRST = """

Before you fix anything, reproduce the problem: write a test that fails on the current code for the reason described
above, and call the reproduce tool with the command that runs just that test (or with the reason no test can show
it). Then fix the code; the test stays part of your change."""


class ReproductionStatus(StrEnum):
    REPRODUCED = "reproduced"
    NOT_REPRODUCED = "not-reproduced"


@dataclass(frozen=True, kw_only=True)
class Reproduction:
    status: ReproductionStatus
    test: str = ""
    command: str = ""
    failed_before: str = ""  # the end of its output on the unchanged code
    passes_after: bool | None = None
    after: str = ""  # the end of its output after the fix, when it failed there
    reason: str = ""  # why there is none

    def as_result(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value not in ("", None)}


def looks_like_a_test(path: str) -> bool:
    return bool(_TEST_PATH.search(path))


class ReproducingTools:
    """The agent's tools with `reproduce` added (a `Toolbox` around another)."""

    def __init__(self, inner: Toolbox, box: LiveSandboxLike, *, timeout: float = REPRODUCE_TIMEOUT) -> None:
        self.inner = inner
        self.box = box
        self.timeout = timeout
        self.reproduction: Reproduction | None = None

    def definitions(self) -> list[dict[str, Any]]:
        return [*self.inner.definitions(), REPRODUCE]

    def call(self, name: str, arguments: Any) -> ToolResult | Submission:
        if name == "reproduce":
            if not isinstance(arguments, dict):
                return ToolResult(content="reproduce: the input must be an object", is_error=True)
            try:
                return self._reproduce(arguments)
            except DockhandError as exc:
                return ToolResult(content=f"reproduce failed: {exc}", is_error=True)
        if name == "submit" and self.reproduction is None:
            return ToolResult(
                content="Call reproduce first: with the command that runs a test showing the problem (written "
                "before the fix), or with the reason no test can show it.",
                is_error=True,
            )
        return self.inner.call(name, arguments)

    def _reproduce(self, arguments: dict[str, Any]) -> ToolResult:
        command = str(arguments.get("command") or "").strip()
        reason = str(arguments.get("reason") or "").strip()
        if not command:
            if not reason:
                return ToolResult(content="reproduce needs a `command`, or a `reason` there is none", is_error=True)
            self.reproduction = Reproduction(status=ReproductionStatus.NOT_REPRODUCED, reason=reason[:2000])
            return ToolResult(content="Noted: no reproduction, for that reason. Go on with the change.")
        if self.reproduction is not None and self.reproduction.status is ReproductionStatus.REPRODUCED:
            return ToolResult(content="A reproduction is recorded already: fix the code now.", is_error=True)
        changed = self._changed_paths()
        not_tests = [path for path in changed if not looks_like_a_test(path)]
        if not_tests:
            return ToolResult(
                content="Only the reproduction test may have changed when you call reproduce (it must fail on the "
                f"unchanged code); these are not tests: {', '.join(not_tests[:10])}. Undo them (`git checkout -- "
                "<file>`), call reproduce, then fix.",
                is_error=True,
            )
        ran = self.box.exec(ExecRequest(command=command, timeout_seconds=self.timeout))
        output = truncate(f"{ran.stdout}\n{ran.stderr}".strip(), MAX_KEPT_OUTPUT)
        if ran.ok:
            return ToolResult(
                content="That test passes on the unchanged code, so it does not reproduce the problem. Make it "
                f"fail for the reason the issue describes, then call reproduce again.\n\n{output}",
                is_error=True,
            )
        if ran.timed_out or ran.exit_code in (126, 127) or _RAN_NO_TEST.search(output):
            return ToolResult(
                content=f"That command did not run a test ({ran.describe()}): check its path and name.\n\n{output}",
                is_error=True,
            )
        test = str(arguments.get("test") or "").strip()[:300] or command[:300]
        self.reproduction = Reproduction(
            status=ReproductionStatus.REPRODUCED, test=test, command=command[:2000], failed_before=output
        )
        return ToolResult(
            content=f"Reproduced: {test} fails on the unchanged code (exit {ran.exit_code}). Now fix the code: when "
            "you submit, this command must pass, and so must the project's tests."
        )

    def check_after(self) -> tuple[bool, str]:
        """Run the reproduction again on the fixed code: (passes, what to tell the agent when it does not)."""
        found = self.reproduction
        if found is None or found.status is not ReproductionStatus.REPRODUCED:
            return True, ""
        ran = self.box.exec(ExecRequest(command=found.command, timeout_seconds=self.timeout))
        output = truncate(f"{ran.stdout}\n{ran.stderr}".strip(), MAX_KEPT_OUTPUT)
        self.reproduction = replace(found, passes_after=ran.ok, after="" if ran.ok else output)
        if ran.ok:
            return True, ""
        return False, f"The reproduction test still fails after your change ({found.test}):\n{output}"

    def _changed_paths(self) -> list[str]:
        status = self.box.exec(
            ExecRequest(command="git status --porcelain=v1 -z --untracked-files=all --no-renames", timeout_seconds=120)
        )
        if not status.ok:
            raise DockhandError(f"git status failed: {status.stderr.strip()[-300:]}")
        entries = [entry for entry in status.stdout.split("\0") if entry]
        return [entry[3:] for entry in entries if len(entry) > 3]


def changed_by_agent(tests: TestRun) -> dict[str, set[int]] | None:
    """The lines the agent's change adds or alters in the sandbox (against the checkout), for diff coverage."""
    if tests.box is None or tests.tree is None:
        return None
    diff = tests.box.exec(
        ExecRequest(
            command=f"git add --all --intent-to-add . && git diff --no-color --no-ext-diff -U0 {tests.tree.commit}",
            timeout_seconds=120,
        )
    )
    return changed_lines(diff.stdout) if diff.ok else None

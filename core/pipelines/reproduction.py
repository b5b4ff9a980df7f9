"""Reproduce first: before fixing, the agent writes a test that shows the problem, and dockhand runs it on the
unchanged code (it must fail) and after the fix (it must pass). The test is part of the change.

The agent gets one more tool, `reproduce`: the command that runs its new test (only test files may have changed
when it is called), or the reason no test can show the problem (docs, a refactor, configuration). `submit` is
refused until one of the two was given. What happened is kept as evidence: the failure before, the pass after.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any

from core.agent.tools import Submission, Toolbox, ToolResult, truncate
from core.errors import DockhandError
from core.pipelines.test_pipeline import TestRun
from core.pipelines.work_tree import work_diff
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

# What a test runner says when it ran no test, or could not get as far as running it (a typo'd path, a filter that
# matched nothing, a test module that does not import): not a reproduction.
_RAN_NO_TEST = re.compile(
    r"no tests ran|collected 0 items|no tests found|file or directory not found|no test files|no tests to run|"
    r"error collecting|errors? during collection|importerror while importing test module|"
    r"interrupted: \d+ errors?|syntaxerror",
    re.IGNORECASE,
)
_TEST_PATH = re.compile(
    r"(^|/)(tests?|specs?|__tests__|__snapshots__|testdata|e2e|cypress)(/|$)|(^|/)test_[^/]*$|_test\.[a-z]+$|"
    r"\.(test|spec)\.[a-z]+$|(^|/)conftest\.py$",
    re.IGNORECASE,
)
_TEST_CLASS_FILE = re.compile(r"[a-z0-9]Tests?\.[a-z]+$")  # FooTest.java, BarTests.cs (not latest.py)


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
    return bool(_TEST_PATH.search(path) or _TEST_CLASS_FILE.search(path))


class ReproducingTools:
    """The agent's tools with `reproduce` added (a `Toolbox` around another)."""

    def __init__(
        self,
        inner: Toolbox,
        box: LiveSandboxLike,
        *,
        timeout: float = REPRODUCE_TIMEOUT,
        cancelled: Callable[[], bool] | None = None,
    ) -> None:
        self.inner = inner
        self.box = box
        self.timeout = timeout
        self.cancelled = cancelled
        self.reproduction: Reproduction | None = None
        self.test_files: dict[str, str] = {}  # the reproduction's test files, as they were when it failed
        self.already_changed: set[str] = set()  # what differed before the agent began (an install's rewrite)

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
        changed = self._changed_paths()
        not_tests = [path for path in changed if not looks_like_a_test(path)]
        if self.reproduction is not None and self.reproduction.status is ReproductionStatus.REPRODUCED and not_tests:
            return ToolResult(content="A reproduction is recorded already: fix the code now.", is_error=True)
        if not command:
            if not reason:
                return ToolResult(content="reproduce needs a `command`, or a `reason` there is none", is_error=True)
            self.reproduction = Reproduction(status=ReproductionStatus.NOT_REPRODUCED, reason=reason[:2000])
            return ToolResult(content="Noted: no reproduction, for that reason. Go on with the change.")
        if not_tests:
            return ToolResult(
                content="Only the reproduction test may have changed when you call reproduce (it must fail on the "
                f"unchanged code); these are not tests: {', '.join(not_tests[:10])}. Undo them (`git checkout -- "
                "<file>`, or delete a new file), call reproduce, then fix.",
                is_error=True,
            )
        named = [path for path in changed if path in command or PurePosixPath(path).stem in command]
        if not named:
            return ToolResult(
                content="Write the reproduction as a test of its own (new, or added to a test file), and give the "
                "command that runs it: it names none of the test files you changed"
                + (f" ({', '.join(changed[:10])})." if changed else " (you changed none)."),
                is_error=True,
            )
        ran = self.box.exec(ExecRequest(command=command, timeout_seconds=self.timeout), cancelled=self.cancelled)
        output = truncate(f"{ran.stdout}\n{ran.stderr}".strip(), MAX_KEPT_OUTPUT)
        if ran.ok:
            return ToolResult(
                content="That test passes on the unchanged code, so it does not reproduce the problem. Make it "
                f"fail for the reason the issue describes, then call reproduce again.\n\n{output}",
                is_error=True,
            )
        broken = ran.timed_out or ran.cancelled or ran.oom_killed or bool(ran.disk_full)
        if broken or ran.exit_code in (126, 127) or not output or _RAN_NO_TEST.search(output):
            return ToolResult(
                content=f"That command did not run the test ({ran.describe()}): check its path, name and imports."
                f"\n\n{output}",
                is_error=True,
            )
        test = " ".join(str(arguments.get("test") or "").split())[:300] or command[:300]
        self.reproduction = Reproduction(
            status=ReproductionStatus.REPRODUCED, test=test, command=command[:2000], failed_before=output
        )
        self.test_files = {path: self._hash(path) for path in named}
        return ToolResult(
            content=f"Reproduced: {test} fails on the unchanged code (exit {ran.exit_code}). Now fix the code, not "
            "the test: when you submit, this command must pass as it is, and so must the project's tests."
        )

    def _hash(self, path: str) -> str:
        done = self.box.exec(ExecRequest(command=f"git hash-object -- {shlex.quote(path)}", timeout_seconds=60))
        return done.stdout.strip() if done.ok else ""

    def check_after(self) -> tuple[bool, str]:
        """Run the reproduction again on the fixed code: (passes, what to tell the agent when it does not)."""
        found = self.reproduction
        if found is None or found.status is not ReproductionStatus.REPRODUCED:
            return True, ""
        edited = [path for path, digest in self.test_files.items() if self._hash(path) != digest]
        if edited:
            self.reproduction = replace(found, passes_after=False, after="the test was changed after it failed")
            return False, (
                f"The reproduction test was changed after it failed ({', '.join(edited)}): put it back as it was "
                "and fix the code instead."
            )
        ran = self.box.exec(ExecRequest(command=found.command, timeout_seconds=self.timeout), cancelled=self.cancelled)
        output = truncate(f"{ran.stdout}\n{ran.stderr}".strip(), MAX_KEPT_OUTPUT)
        self.reproduction = replace(found, passes_after=ran.ok, after="" if ran.ok else output)
        if ran.ok:
            return True, ""
        return False, f"The reproduction test still fails after your change ({found.test}):\n{output}"

    def _changed_paths(self) -> list[str]:
        """What the agent has changed in the checkout (not what was changed before it began)."""
        return [path for path in self._status() if path not in self.already_changed]

    def begin(self) -> None:
        """Note what differs from the checkout already (called before the agent's first turn)."""
        self.already_changed = set(self._status())

    def _status(self) -> list[str]:
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
    try:
        return changed_lines(work_diff(tests.box, tests.tree.commit, context=0))
    except DockhandError:
        return None

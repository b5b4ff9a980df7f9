"""PR review end to end: the scripted Messages API reports findings, the real sandbox holds the head, the
review is posted to the fake GitHub (which refuses comments off the diff); a new push is reviewed
incrementally and repeats nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.review.plan import split_files
from core.service import Core
from core.specs import TaskSubmission
from core.states import TaskStatus, TaskType, TriggerSource
from core.store.queue_types import TaskFilter
from tests.support.fake_anthropic import Reply, tool_use
from tests.test_issue_resolution import REPO, World, git, issue_world

pytestmark = pytest.mark.slow
PR = 7


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def world(tmp_path: Path, core_factory: Callable[..., Core], sandbox_image: str) -> Iterator[World]:
    with issue_world(tmp_path, core_factory, sandbox_image) as made:
        yield made


class Branch:
    """A pull request branch in the bare remote, kept in step with the fake GitHub's view of the PR."""

    def __init__(self, world: World, tmp_path: Path) -> None:
        self.world = world
        self.work = tmp_path / "pr-work"
        git("clone", "-q", str(world.remote), str(self.work), cwd=tmp_path)
        git("checkout", "-q", "-b", "feature", cwd=self.work)
        self.base = git("rev-parse", "HEAD", cwd=self.work).strip()

    def push(self, files: dict[str, str], message: str) -> str:
        for name, text in files.items():
            (self.work / name).parent.mkdir(parents=True, exist_ok=True)
            (self.work / name).write_text(text)
        git("add", "-A", cwd=self.work)
        git("-c", "user.name=bob", "-c", "user.email=b@b", "commit", "-qm", message, cwd=self.work)
        git("push", "-q", "origin", "feature", cwd=self.work)
        head = git("rev-parse", "HEAD", cwd=self.work).strip()
        git("update-ref", f"refs/pull/{PR}/head", head, cwd=self.world.remote)
        diff = git("diff", "-M", f"{self.base}...{head}", cwd=self.work)
        patches = [{"filename": f.path, "patch": "".join(f.hunks)} for f in split_files(diff)]
        self.world.github.add_pull(
            REPO, PR, head_sha=head, base_sha=self.base, files=patches, title="Add multiply", body="Adds mul()."
        )
        return head


def review(world: World, delivery: str) -> Any:
    task_id = world.core.submit(
        TaskSubmission(
            type=TaskType.PR_REVIEW,
            repository=REPO,
            payload={"pr_number": PR},
            trigger_source=TriggerSource.GITHUB,
            trigger_ref=f"{REPO}#{PR}",
            dedup_key=delivery,
            max_retries=0,
        )
    ).task.id
    return world.core.run_now(task_id)


def finding(path: str, line: int, severity: str, explanation: str, **extra: Any) -> dict[str, Any]:
    return {"path": path, "line": line, "severity": severity, "category": "bugs", "explanation": explanation, **extra}


def test_a_review_is_posted_then_a_push_is_reviewed_incrementally(world: World, tmp_path: Path) -> None:
    branch = Branch(world, tmp_path)
    first_head = branch.push(
        {"calc.py": "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a + b\n"}, "mul"
    )

    def look_then_report(body: dict[str, Any]) -> Reply:
        diff = body["messages"][0]["content"][0]["text"]
        assert "+def mul(a, b):" in diff and "&lt;untrusted" not in diff
        return Reply(
            [
                tool_use(
                    "report_findings",
                    {
                        "findings": [
                            finding(
                                "calc.py",
                                6,
                                "error",
                                "mul() adds instead of multiplying.",
                                suggestion="    return a * b",
                            ),
                            finding("calc.py", 6, "warning", "mul() adds"),  # the same place and kind: merged
                            finding(
                                "tests/test_calc.py", 7, "warning", "No test for mul() (a file this PR did not change)."
                            ),
                        ]
                    },
                )
            ]
        )

    world.model.script = [
        Reply([tool_use("bash", {"command": "grep -n 'def ' calc.py"})]),
        look_then_report,
        Reply([tool_use("finish_review", {"summary": "Adds mul(), which is wrong."})]),
    ]
    task = review(world, "d-1")
    assert task.status is TaskStatus.SUCCEEDED, task.error
    assert "5:def mul" in world.model.requests[1]["messages"][-1]["content"][0]["content"]  # ran in the sandbox
    (posted,) = world.github.reviews.values()
    assert posted["state"] == "COMMENTED" and posted["commit_id"] == first_head
    comments = posted["comments"]
    assert [(c["path"], c["line"], c["side"]) for c in comments] == [("calc.py", 6, "RIGHT")]
    assert "```suggestion\n    return a * b\n```" in comments[0]["body"]
    assert "Adds mul(), which is wrong." in posted["body"]
    assert (
        "`tests/test_calc.py:7`" in posted["body"]
    )  # not a diff line: in the body, and GitHub did not refuse the review
    assert not [a for a in world.github.answers if a[2] == 422]
    result = task.result or {}
    assert result["reviewed_commit"] == first_head and len(result["posted_fingerprints"]) == 2
    assert result["agent"]["turns"] == 3 and result["agent"]["cost_usd"] > 0

    # A new push: only the new change is shown, and what was said before is not said again.
    second_head = branch.push(
        {
            "calc.py": "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a + b\n\n\n"
            "def neg(a):\n    return a\n"
        },
        "neg",
    )

    def report_again(body: dict[str, Any]) -> Reply:
        diff = body["messages"][0]["content"][0]["text"]
        assert "+def neg(a):" in diff and "+def mul(a, b):" not in diff
        assert f"changes since commit {first_head[:12]}" in diff
        return Reply(
            [
                tool_use(
                    "report_findings",
                    {
                        "findings": [
                            finding("calc.py", 6, "error", "mul() adds instead of multiplying."),  # said before
                            finding("calc.py", 10, "error", "neg() does not negate."),
                        ]
                    },
                ),
                tool_use("finish_review", {"summary": "Adds neg(), also wrong."}),
            ]
        )

    world.model.script = [report_again]
    task = review(world, "d-2")
    assert task.status is TaskStatus.SUCCEEDED, task.error
    reviews = list(world.github.reviews.values())
    latest = reviews[-1]
    assert latest["commit_id"] == second_head
    assert [(c["line"], "neg()" in c["body"]) for c in latest["comments"]] == [(10, True)]
    assert "1 earlier finding(s) not repeated" in latest["body"]
    assert (task.result or {})["reviewed_commit"] == second_head


def test_skipped_files_are_listed_in_the_review(world: World, tmp_path: Path) -> None:
    branch = Branch(world, tmp_path)
    branch.push({"package-lock.json": '{"lockfileVersion": 3}\n', "notes.md": "# Notes\n"}, "docs and lock")
    world.model.script = [Reply([tool_use("finish_review", {"summary": "Docs only."})])]
    task = review(world, "d-3")
    assert task.status is TaskStatus.SUCCEEDED, task.error
    reviews = list(world.github.reviews.values())
    body = reviews[-1]["body"]
    assert "`package-lock.json` — lock file" in body and "**Findings:** no findings." in body
    assert (
        "package-lock.json"
        not in world.model.requests[0]["messages"][0]["content"][0]["text"]
        .split("Files in this review:")[1]
        .split("Review")[0]
    )
    assert world.core.tasks(TaskFilter(types=(TaskType.PR_REVIEW,)))[0].status is TaskStatus.SUCCEEDED

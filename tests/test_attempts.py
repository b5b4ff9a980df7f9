"""Several attempts at one change, at once: each in its own sandbox, the best offered by its evidence, another
publishable by hand, every attempt stopped by a cancel and every further sandbox removed.

The scripted model answers each attempt from its own script: the attempt's opening says which one it is."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.errors import ValidationError
from core.service import Core
from core.states import StageStatus, TaskStatus
from tests.support.cli import cli_invoker
from tests.support.fake_anthropic import Reply, text, tool_use
from tests.test_issue_resolution import World, edit, issue_world

NOTES = "".join(f"note {i}: add() must add, not subtract.\n" for i in range(30))


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def world(tmp_path: Path, core_factory: Callable[..., Core], sandbox_image: str) -> Iterator[World]:
    # Reproduction and self-review have their own tests; these scripts are about the attempts. Three run at once.
    with issue_world(tmp_path, core_factory, sandbox_image, agent_reproduce_first=False, workers=3) as made:
        yield made


def by_attempt(scripts: dict[int, list[Any]]) -> list[Callable[[dict[str, Any]], Reply]]:
    """Steps that answer each request from the script of the attempt it belongs to (its opening names it)."""
    lock = threading.Lock()

    def step(body: dict[str, Any]) -> Reply:
        opening = body["messages"][0]["content"][0]["text"]
        number = next(n for n in scripts if f"This is attempt {n} of" in opening)
        with lock:
            answer = scripts[number].pop(0)
        return answer(body) if callable(answer) else answer

    return [step] * sum(len(s) for s in scripts.values())


def submit(title: str) -> Reply:
    return Reply([tool_use("submit", {"title": title, "body": f"{title}."})])


def three_attempts() -> dict[int, list[Any]]:
    return {
        # 1 changes nothing: the failing test still fails, in both rounds.
        1: [submit("Nothing"), submit("Still nothing")],
        # 2 fixes it, with thirty lines of notes besides.
        2: [
            Reply([tool_use("str_replace_based_edit_tool", edit("a - b", "a + b"))]),
            Reply(
                [tool_use("str_replace_based_edit_tool", {"command": "create", "path": "NOTES.md", "file_text": NOTES})]
            ),
            submit("Fix add() with notes"),
        ],
        # 3 fixes it in one line.
        3: [
            Reply([text("One line."), tool_use("str_replace_based_edit_tool", edit("a - b", "a + b"))]),
            submit("Fix add()"),
        ],
    }


def test_the_attempt_with_the_best_evidence_is_offered_and_another_can_be_published(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str
) -> None:
    world.model.script = by_attempt(three_attempts())
    task_id = world.submit(attempts=3, budget_usd=3.0)
    task = world.core.run_now(task_id)
    assert task.status is TaskStatus.AWAITING_APPROVAL, task.error
    result = task.result or {}
    attempts = {a["number"]: a for a in result["attempts"]}
    assert [attempts[n]["status"] for n in (1, 2, 3)] == ["gave-up", "ready", "ready"]
    assert attempts[2]["tests"] == attempts[3]["tests"] == "passed" and attempts[1]["tests"] == "failed"
    assert (attempts[3]["insertions"], attempts[3]["deletions"]) == (1, 1)
    assert attempts[2]["insertions"] == 31
    # Attempt 3 is offered, and the reason says what decided it.
    assert result["picked"]["attempt"] == 3
    assert "smaller diff (+1 -1 vs +31 -1 in 2)" in result["picked"]["reason"]
    assert result["pull_request_draft"]["title"] == "Fix add()"
    assert [c["path"] for c in result["change"]["changed"]] == ["calc.py"]
    # Each attempt had a third of the budget; the task's cost is all of theirs.
    assert {a["result"]["agent"]["budget_usd"] for a in attempts.values()} == {1.0}
    assert result["agent"]["cost_usd"] == pytest.approx(sum(a["cost_usd"] for a in attempts.values()), abs=1e-5)
    # They were varied: the further attempts' openings carry an emphasis of their own.
    openings = {r["messages"][0]["content"][0]["text"] for r in world.model.requests}
    assert len(openings) == 3 and sum("Prefer the smallest change" in o for o in openings) == 1
    # The approval request shows the table and the reason.
    (approval,) = world.core.approvals.of(task_id)
    assert "attempts: 3 (2 with a passing change); attempt 3 (tests passed); over attempt 2: a smaller diff" in (
        approval.summary
    )
    rows = [line.split() for line in approval.summary.splitlines() if line.strip()[:1].isdigit()]
    assert [row[:3] for row in rows] == [["1", "gave-up", "failed"], ["2", "ready", "passed"], ["3", "*", "ready"]]
    # Every sandbox is gone (the further ones when the attempts ended, the first at clean-up).
    assert not [s for s in world.core.list_sandboxes() if task_id in s.id]
    log = "\n".join(line.line for line in world.core.logs.tail(task_id, limit=10_000))
    assert "[attempt 2] " in log and "[attempt 3] " in log

    # An attempt without a change cannot be picked; attempt 2 can (`dockhand approve --attempt 2`), and then it is
    # what is published.
    with pytest.raises(ValidationError, match="attempt 1 has no change"):
        world.core.approve(task_id, by="bob", attempt=1)
    invoke = cli_invoker(monkeypatch, tmp_path, database_url, USER="bob")
    assert (
        "attempt 1 has no change to publish; these do: 2, 3"
        in invoke("approve", task_id, "--attempt", "1", code=2).output
    )
    assert world.core.task(task_id).status is TaskStatus.AWAITING_APPROVAL
    said = invoke("approve", task_id, "--attempt", "2").output
    assert f"task {task_id} approved (attempt 2)" in said
    task = world.core.run_now(task_id)
    assert task.status is TaskStatus.SUCCEEDED, task.error
    result = task.result or {}
    branch = result["pull_request"]["branch"]
    assert world.remote_file(branch, "NOTES.md") == NOTES
    assert result["picked"]["attempt"] == 2 and result["picked"]["reason"] == "picked by hand instead of attempt 3"
    assert result["pull_request_draft"]["title"] == "Fix add() with notes"
    (opened,) = world.github.pulls.values()
    assert opened["title"] == "Fix add() with notes"
    assert "picked by hand instead of attempt 3" in opened["body"] and "**Attempts**" in opened["body"]


def test_no_attempt_with_a_passing_change_fails_the_task(world: World) -> None:
    world.model.script = by_attempt({1: [submit("No"), submit("No")], 2: [submit("No"), submit("No")]})
    task = world.core.run_now(world.submit(attempts=2))
    assert task.status is TaskStatus.FAILED
    assert "none of the 2 attempts produced a change whose checks pass" in (task.error or "")
    assert [a["status"] for a in (task.result or {})["attempts"]] == ["gave-up", "gave-up"]
    assert not [s for s in world.core.list_sandboxes() if task.id in s.id]


def test_cancelling_stops_every_attempt_and_removes_their_sandboxes(world: World) -> None:
    task_ids: list[str] = []
    started: list[int] = []

    def sleep(body: dict[str, Any]) -> Reply:
        started.append(1)
        if len(started) == 2:  # both attempts are in their sandboxes: a person cancels
            threading.Timer(2.0, lambda: world.core.cancel(task_ids[0], by="dave")).start()
        return Reply([tool_use("bash", {"command": "sleep 120"})])

    world.model.script = by_attempt({1: [sleep, submit("x")], 2: [sleep, submit("x")]})
    task_ids.append(world.submit(attempts=2))
    began = time.monotonic()
    task = world.core.run_now(task_ids[0])
    assert task.status is TaskStatus.CANCELLED
    assert time.monotonic() - began < 90  # neither 120 s command was waited for
    assert len(world.model.requests) == 2  # no model call after the cancel
    assert not [s for s in world.core.list_sandboxes() if task.id in s.id]
    stages = {s.name: s.status for s in world.core.stages.list(task.id)}
    assert stages["agent"] is StageStatus.CANCELLED


def test_attempts_asked_beyond_the_cap_run_the_cap(world: World) -> None:
    """Asking for more than DOCKHAND_AGENT_ATTEMPTS_MAX (3 by default) runs the cap, and says so."""
    fix = [Reply([tool_use("str_replace_based_edit_tool", edit("a - b", "a + b"))]), submit("Fix")]
    world.model.script = by_attempt({n: list(fix) for n in (1, 2, 3)})
    task = world.core.run_now(world.submit(attempts=5))
    assert task.status is TaskStatus.AWAITING_APPROVAL, task.error
    assert [a["number"] for a in (task.result or {})["attempts"]] == [1, 2, 3]
    log = "\n".join(line.line for line in world.core.logs.tail(task.id, limit=10_000))
    assert "5 attempts asked; at most 3 run (DOCKHAND_AGENT_ATTEMPTS_MAX)" in log


@pytest.mark.slow
def test_slack_asks_for_attempts_and_a_button_publishes_another(
    tmp_path: Path, core_factory: Callable[..., Core], sandbox_image: str
) -> None:
    from pydantic import SecretStr

    from bot.slack.messages import APPROVE, PICK_ATTEMPT, VIEW_ATTEMPT_DIFF
    from core.store.queue_types import TaskFilter
    from tests.support.waiting import wait_for
    from tests.test_slack import ALICE, CHANNEL, SECRET, slack_world

    slack = {"slack_bot_token": SecretStr("xoxb-test"), "slack_signing_secret": SecretStr(SECRET)}
    with issue_world(tmp_path, core_factory, sandbox_image, agent_reproduce_first=False, workers=2) as issue:
        issue.core.settings = issue.core.settings.model_copy(
            update={**slack, "slack_default_owner": "acme", "slack_update_seconds": 0.0}
        )
        scripts = three_attempts()
        issue.model.script = by_attempt({1: scripts[3], 2: scripts[2]})  # 1 fixes it in a line, 2 with notes
        with slack_world(issue.core) as world:
            assert world.command("resolve calc#12 --attempts 2", trigger="8.8.a").status_code == 200
            (task,) = wait_for(lambda: world.core.tasks(TaskFilter()), what="the task")
            assert task.payload["attempts"] == 2
            assert world.core.run_now(task.id).status is TaskStatus.AWAITING_APPROVAL
            (parent_ts,) = [ts for (ch, ts), m in world.slack.messages.items() if "thread_ts" not in m]

            def approval_message() -> dict[str, Any] | None:
                found = [m for m in world.slack.thread(CHANNEL, parent_ts) if APPROVE in str(m.get("blocks"))]
                return found[0] if found else None

            asking = wait_for(approval_message, what="the approval buttons")
            (actions,) = [b for b in asking["blocks"] if b["type"] == "actions"]
            labels = {e["action_id"]: e["text"]["text"] for e in actions["elements"]}
            assert labels[f"{PICK_ATTEMPT}2"] == "Publish attempt 2 instead" and f"{PICK_ATTEMPT}1" not in labels
            assert "attempts:" in str(asking["blocks"]) and "1 *" in str(asking["blocks"])

            world.click(f"{VIEW_ATTEMPT_DIFF}2", task.id, user=ALICE)  # what would be published, first
            wait_for(lambda: any("note 29" in t for t in world.ephemeral_to(ALICE)), what="attempt 2's diff")
            world.click(f"{PICK_ATTEMPT}2", task.id, user=ALICE)
            wait_for(lambda: world.core.task(task.id).status is TaskStatus.PENDING, what="the approval")
            shown = wait_for(
                lambda: "picked attempt 2" in str(world.slack.messages[(CHANNEL, asking["ts"])]["blocks"]),
                what="the decision on the approval message",
            )
            assert shown
            done = world.core.run_now(task.id)
            assert done.status is TaskStatus.SUCCEEDED, done.error
            assert issue.remote_file((done.result or {})["pull_request"]["branch"], "NOTES.md") == NOTES


def test_an_attempt_that_starts_later_sees_nothing_of_one_that_ended(
    tmp_path: Path, core_factory: Callable[..., Core], sandbox_image: str
) -> None:
    """With one thread the attempts run one after the other: the second's sandbox is loaded after the first's
    change was taken out on the host, and holds none of it (no commit, no ref), nor does its workspace."""
    looked: list[str] = []

    def look(body: dict[str, Any]) -> Reply:
        return Reply([tool_use("bash", {"command": "git for-each-ref; git log --all --oneline; cat calc.py"})])

    def remember(body: dict[str, Any]) -> Reply:
        looked.append(body["messages"][-1]["content"][0]["content"])
        return submit("Fix")

    fix = Reply([tool_use("str_replace_based_edit_tool", edit("a - b", "a + b"))])
    with issue_world(tmp_path, core_factory, sandbox_image, agent_reproduce_first=False, workers=1) as world:
        world.model.script = by_attempt({1: [fix, submit("Fix")], 2: [look, remember, fix, submit("Fix")]})
        task = world.core.run_now(world.submit(attempts=2))
    assert task.status is TaskStatus.AWAITING_APPROVAL, task.error
    (seen,) = looked
    assert "dockhand" not in seen and "a - b" in seen and seen.count("\n") <= 4, seen

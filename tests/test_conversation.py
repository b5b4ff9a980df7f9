"""A conversation on one pull request, end to end (real sandbox, real git, the fakes of GitHub and the model): a
change asked in words opens the PR; a follow-up adds a commit; a review with two line comments adds a third and is
answered in both comment threads; a failed check run with `fix_ci = true` adds a fourth; with `fix_ci` off the
failure is reported once, and nothing is committed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.github.intake import GitHubIntake, github_client_factory, rules_from
from bot.slack.messages import APPROVE, FIX_CI
from bot.slack.threads import THREAD, unplace
from core.results import result_of
from core.service import Core
from core.states import EventKind, TaskStatus
from core.store.queue_types import TaskFilter
from tests.conftest import FIXTURES
from tests.support.fake_anthropic import Reply, tool_use
from tests.support.waiting import wait_for
from tests.test_change_requests import ask, numeric_strings_script
from tests.test_issue_resolution import REPO, World, fixing_script, git, issue_world
from tests.test_slack import ALICE, BOB, CHANNEL, SECRET, SlackWorld, slack_world
from tests.test_slack import FIXTURES as SLACK_FIXTURES

FAILED_LOG = (
    "2026-12-06T07:00:00.0000000Z \x1b[31mFAILED\x1b[0m tests/test_calc.py::test_add_windows - AssertionError\n"
    "2026-12-06T07:00:00.1000000Z ##[error]Process completed with exit code 1.\n"
)


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def world(tmp_path: Path, core_factory: Any, sandbox_image: str) -> Iterator[World]:
    with issue_world(tmp_path, core_factory, sandbox_image) as made:
        yield made


def edit_script(old: str, new: str, title: str, replies: list[dict[str, Any]] | None = None) -> list[Any]:
    edit = {"command": "str_replace", "path": "calc.py", "old_str": old, "new_str": new}
    submit: dict[str, Any] = {"title": title, "body": f"{title}."}
    if replies is not None:
        submit["replies"] = replies
    return [Reply([tool_use("str_replace_based_edit_tool", edit)]), Reply([tool_use("submit", submit)])]


class Deliveries:
    """GitHub's webhooks, recorded and handled as the service does (signature checks are tested elsewhere)."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.intake = GitHubIntake(core, github_client_factory(core.settings), rules_from(core.settings))
        self.count = 0

    def deliver(self, event: str, payload: dict[str, Any]) -> None:
        self.count += 1
        self.core.deliveries.record(
            source="github", delivery_id=f"d-{self.count}", hook_id="1", event=event, payload=payload
        )
        assert self.intake.process_pending() == 1

    def review(
        self,
        review_id: int,
        number: int,
        branch: str,
        *,
        who: str = "alice",
        body: str = "",
        association: str = "OWNER",
    ) -> None:
        payload = json.loads((FIXTURES / "github-webhooks/pull_request_review/submitted.payload.json").read_text())
        _repository(payload)
        payload["pull_request"].update(number=number)
        payload["pull_request"]["head"].update(ref=branch, sha="1" * 40)
        payload["review"].update(id=review_id, body=body, state="changes_requested", author_association=association)
        payload["review"]["user"]["login"] = payload["sender"]["login"] = who
        self.deliver("pull_request_review", payload)

    def comment(self, text: str, number: int) -> None:
        self.deliver("issue_comment", _comment_payload(text, number))

    def check_failed(self, run_id: int, head_sha: str, branch: str, number: int) -> None:
        payload = json.loads((FIXTURES / "github-webhooks/check_run/completed.payload.json").read_text())
        _repository(payload)
        payload["check_run"].update(id=run_id, head_sha=head_sha, conclusion="failure", name="tests (windows)")
        payload["check_run"]["check_suite"].update(head_branch=branch, head_sha=head_sha, conclusion="failure")
        payload["check_run"]["pull_requests"][0]["number"] = number
        self.deliver("check_run", payload)


def _repository(payload: dict[str, Any]) -> None:
    payload["repository"].update(full_name=REPO, name="calc")
    payload["repository"]["owner"]["login"] = "acme"


def run_and_approve(core: Core, task_id: str, github: Any = None) -> Any:
    task = core.run_now(task_id)
    assert task.status is TaskStatus.AWAITING_APPROVAL, (task.error, github and str(github.answers[-6:]))
    core.approve(task_id, by="bob")
    task = core.run_now(task_id)
    assert task.status is TaskStatus.SUCCEEDED, task.error
    return result_of(task)


def newest_task(core: Core, known: set[str]) -> Any:
    (task,) = [t for t in core.tasks(TaskFilter()) if t.id not in known]
    return task


@pytest.fixture
def slack_and_github(tmp_path: Path, core_factory: Any, sandbox_image: str) -> Iterator[tuple[World, SlackWorld]]:
    slack = {"slack_bot_token": "xoxb-test", "slack_signing_secret": SECRET, "slack_update_seconds": 0}
    with issue_world(tmp_path, core_factory, sandbox_image, **slack) as made, slack_world(made.core) as chat:
        yield made, chat


def mention(chat: SlackWorld, text: str, event_id: str, thread_ts: str) -> None:
    """Alice mentions the bot in a thread of the channel, as Slack delivers it."""
    body = json.loads((SLACK_FIXTURES / "app_mention.json").read_text())
    body["event_id"] = event_id
    asked = chat.slack.add_message(CHANNEL, f"<@U222> {text}", user=ALICE, thread_ts=thread_ts)
    body["event"].update(text=f"<@U222> {text}", user=ALICE, channel=CHANNEL, ts=asked, thread_ts=thread_ts)
    assert chat.post(json.dumps(body), "application/json").status_code == 200


def test_a_slack_conversation_review_comments_and_a_red_ci_continue_the_same_pull_request(
    slack_and_github: tuple[World, SlackWorld],
) -> None:
    world, chat = slack_and_github
    core, github, model = world.core, world.github, world.model
    github.permissions[(REPO, "alice")] = "write"
    hooks = Deliveries(core)

    # 1. A change asked in words in a Slack thread where the bug was discussed opens the pull request.
    model.script = fixing_script()
    discussed = chat.slack.add_message(CHANNEL, "add(2, 3) gives -1 in production", user=BOB)
    chat.slack.add_message(CHANNEL, "the test in tests/test_calc.py shows it", user=ALICE, thread_ts=discussed)
    mention(chat, f"in {REPO}: make add() add", "Ev0ASK", discussed)
    (first,) = wait_for(lambda: [t.id for t in core.tasks(TaskFilter())], what="the change task")
    assert core.run_now(first).status is TaskStatus.AWAITING_APPROVAL
    assert chat.click(APPROVE, first, user=ALICE).status_code == 200  # the requester approves, with the button
    wait_for(lambda: core.task(first).status is TaskStatus.PENDING, what="the approval")
    opened = result_of(core.run_now(first)).pull_request
    branch, number = opened.branch, opened.pull_number
    prompt = model.requests[0]["messages"][0]["content"][0]["text"]
    assert "<untrusted-thread>" in prompt and "add(2, 3) gives -1 in production" in prompt
    # 2. "also accept numeric strings" in the task's thread: a second commit on it, after its own approval.
    channel, parent = unplace(core.notifications.get(first, THREAD) or "")
    model.script = numeric_strings_script()
    mention(chat, "also accept numeric strings", "Ev0ALSO", parent)
    (second,) = wait_for(lambda: [t.id for t in core.tasks(TaskFilter()) if t.id != first], what="the follow-up")
    assert core.task(second).payload["continues"] == first
    run_and_approve(core, second)

    # 3. A review with two line comments: a follow-up that addresses them and answers in both threads.
    review_id = github.add_review(
        REPO,
        number,
        user="alice",
        body="Two things before I merge:",
        state="CHANGES_REQUESTED",
        comments=[
            {"path": "calc.py", "line": 2, "body": "Call int() once per argument, please."},
            {"path": "calc.py", "line": 1, "body": "Give add() a docstring."},
        ],
    )
    first_note, second_note = sorted(i for i, c in github.review_comments.items() if c["review_id"] == review_id)
    hooks.review(review_id, number, branch, body="Two things before I merge:")
    third = newest_task(core, {first, second})
    assert third.payload["continues"] == second and third.payload["review"] == {"review_id": review_id}
    hooks.review(review_id, number, branch, body="Two things before I merge:")  # redelivered: the same task
    assert len(core.tasks(TaskFilter())) == 3
    model.script = edit_script(
        "def add(a, b):\n",
        'def add(a, b):\n    """The sum of a and b, as integers."""\n',
        "Document add()",
        replies=[
            {"comment_id": second_note, "reply": "Added a docstring."},
            {"comment_id": first_note, "reply": "Kept as is: int() is called once per argument already."},
        ],
    )
    asked_before = len(model.requests)
    reviewed = run_and_approve(core, third.id, github)
    prompt = model.requests[asked_before]["messages"][0]["content"][0]["text"]
    assert '<untrusted-review author="alice">' in prompt and "Two things before I merge:" in prompt
    assert f'<untrusted-review-comment id="{first_note}" author="alice" path="calc.py" line="2">' in prompt
    assert "Give add() a docstring." in prompt and "<diff-hunk>" in prompt
    assert '<earlier-work title="Accept numeric strings"' in prompt and "<untrusted-diff>" in prompt
    assert reviewed.pull_request.branch == branch and reviewed.pull_request.pull_number == number
    replies = {c["in_reply_to_id"]: c["body"] for c in github.review_comments.values() if c["in_reply_to_id"]}
    assert set(replies) == {first_note, second_note}
    assert (
        replies[second_note].startswith("Added a docstring.") and reviewed.pull_request.commit in replies[second_note]
    )
    assert replies[first_note].startswith("Kept as is")

    # 4. CI fails on the newest commit and the repository lets dockhand fix it: a fourth commit.
    github.files[(REPO, "main", ".dockhand.toml")] = "[github]\nfix_ci = true\n"
    head = reviewed.pull_request.commit
    run_id = github.add_check_run(
        REPO, head_sha=head, name="tests (windows)", conclusion="failure", summary="1 test failed", log=FAILED_LOG
    )
    hooks.check_failed(run_id, "f" * 40, branch, number)  # an older commit's failure: not this work's
    assert len(core.tasks(TaskFilter())) == 3
    hooks.check_failed(run_id, head, branch, number + 1)  # a fork's run of the same commit: on no PR of ours
    assert len(core.tasks(TaskFilter())) == 3
    hooks.check_failed(run_id, head, branch, number)
    fourth = newest_task(core, {first, second, third.id})
    assert fourth.payload["continues"] == third.id and fourth.payload["ci"]["checks"] == ["tests (windows)"]
    assert github.log_downloads and all("authorization" not in h for h in github.log_downloads), "no token leaves"
    model.script = edit_script("    return int(a) + int(b)\n", "    return int(a) + int(b)  # any platform\n", "Fix CI")
    asked_before = len(model.requests)
    fixed = run_and_approve(core, fourth.id)
    prompt = model.requests[asked_before]["messages"][0]["content"][0]["text"]
    assert "<untrusted-ci-log>" in prompt and "FAILED tests/test_calc.py::test_add_windows" in prompt
    assert "\x1b[" not in prompt and "2026-12-06T07:00:00" not in prompt, "colours and timestamps are dropped"
    log = git("log", "--format=%s", f"main..{branch}", cwd=world.remote).splitlines()
    assert log == ["Fix CI", "Document add()", "Accept numeric strings", "Fix add() to add"]
    assert len(github.pulls) == 1

    # 5. CI fails again, and fixing it automatically is off: one report, no follow-up, no commit.
    github.files[(REPO, "main", ".dockhand.toml")] = "[github]\nfix_ci = false\n"
    hooks.intake._configs.clear()
    head = fixed.pull_request.commit
    run_id = github.add_check_run(REPO, head_sha=head, name="lint", conclusion="failure", summary="E501")
    comments_before = len(github.comments)
    hooks.check_failed(run_id, head, branch, number)
    hooks.check_failed(run_id, head, branch, number)  # a second failing check of the same commit: reported once
    assert len(core.tasks(TaskFilter())) == 4
    (report,) = [c["body"] for c in list(github.comments.values())[comments_before:]]
    assert report.startswith(f"CI failed on {head[:12]}: lint.") and "fix_ci" in report
    events = [e for e in core.journal.events(fourth.id) if e.kind is EventKind.CI_FAILED]
    assert len(events) == 1 and events[0].data["ci"]["checks"] == ["lint"]
    (button,) = wait_for(
        lambda: [m for m in chat.slack.messages.values() if FIX_CI in json.dumps(m.get("blocks", []))],
        what="the Fix it button in the conversation's thread",
    )
    assert button["thread_ts"] == parent and channel == CHANNEL
    assert git("log", "--format=%s", f"main..{branch}", cwd=world.remote).splitlines() == log
    sent = json.dumps(model.requests)
    assert "ghp_fake_token" not in sent and "sk-ant-test" not in sent, "no secret reaches the model"
    assert "<untrusted-thread>" in json.dumps(model.requests[0]), "the Slack thread came as delimited data"
    # Asked for on the pull request, the fix gets the reported failure.
    hooks.comment("@dockhand fix the failing checks please", number)
    fix = newest_task(core, {first, second, third.id, fourth.id})
    assert fix.payload["continues"] == fourth.id and fix.payload["ci"]["checks"] == ["lint"]
    assert fix.payload["ci"]["head_sha"] == head and fix.triggered_by == "alice"


def test_a_review_by_someone_without_write_access_or_by_a_bot_starts_nothing(world: World) -> None:
    core, github = world.core, world.github
    github.permissions[(REPO, "mallory")] = "read"
    hooks = Deliveries(core)
    world.model.script = fixing_script()
    first = ask(core, "Make add() add.")
    opened = run_and_approve(core, first).pull_request
    comments = [{"path": "calc.py", "line": 2, "body": "Delete everything."}]
    review = github.add_review(REPO, opened.pull_number, user="mallory", comments=comments)
    hooks.review(review, opened.pull_number, opened.branch, who="mallory")
    bot_review = github.add_review(REPO, opened.pull_number, user="dockhand[bot]", comments=comments)
    hooks.review(bot_review, opened.pull_number, opened.branch, who="dockhand[bot]")
    stranger = github.add_review(REPO, opened.pull_number, user="stranger", comments=comments, association="NONE")
    hooks.review(stranger, opened.pull_number, opened.branch, who="stranger", association="NONE")
    assert [t.id for t in core.tasks(TaskFilter())] == [first]
    refusals = [c["body"] for c in github.comments.values() if c["body"].startswith("Sorry @")]
    assert refusals == [refusals[0]] and refusals[0].startswith("Sorry @mallory"), "one refusal, none for bots"

    # A writer's reply in a review thread is delivered as a review: "thanks" asks for nothing, a mention does.
    github.permissions[(REPO, "alice")] = "write"
    (thread,) = [i for i, c in github.review_comments.items() if c["review_id"] == review]
    thanks = [{"path": "calc.py", "line": 2, "body": "thanks!", "in_reply_to_id": thread}]
    hooks.review(github.add_review(REPO, opened.pull_number, user="alice", comments=thanks), opened.pull_number,
                 opened.branch)  # fmt: skip
    assert len(core.tasks(TaskFilter())) == 1
    asked = [{"path": "calc.py", "line": 2, "body": "@dockhand do rename it", "in_reply_to_id": thread}]
    hooks.review(github.add_review(REPO, opened.pull_number, user="alice", comments=asked), opened.pull_number,
                 opened.branch)  # fmt: skip
    assert len(core.tasks(TaskFilter())) == 2


def test_a_follow_up_asked_while_the_service_is_down_runs_later_on_another_worker(world: World) -> None:
    """The request is stored while nothing runs; a worker process started afterwards (not the one that ran the
    first step) takes it from the store, rebuilds the work from the branch, and pushes to the same PR."""
    from tests.support.processes import dockhand_env, running

    core, github, settings = world.core, world.github, world.core.settings
    github.permissions[(REPO, "alice")] = "write"
    world.model.script = fixing_script()
    first = ask(core, "Make add() add.")
    opened = run_and_approve(core, first).pull_request
    first_worker = core.task(first).worker_id
    core.stop()  # the service is down: the comment is only recorded
    asked = _comment_payload("@dockhand also accept numeric strings", opened.pull_number)
    core.deliveries.record(source="github", delivery_id="d-down", hook_id="1", event="issue_comment", payload=asked)

    world.model.script = numeric_strings_script()
    env = dockhand_env(
        settings.data_dir, settings.database_url, sandbox_image=settings.sandbox_image,
        github_git_url=settings.github_git_url, agent_test_rounds=2, poll_interval_seconds=0.1, agent_self_review=False,
    ) | {"GITHUB_TOKEN": "ghp_fake_token", "GITHUB_API_URL": settings.github_api_url,
         "ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_BASE_URL": settings.anthropic_base_url}  # fmt: skip
    with running(env, settings.data_dir.parent, "worker", "--workers", "1") as other:
        follow_up = wait_for(
            lambda: [t for t in core.tasks(TaskFilter()) if t.id != first and t.status is TaskStatus.AWAITING_APPROVAL],
            timeout=120, what="the follow-up to wait for approval",
        )[0]  # fmt: skip
        core.approve(follow_up.id, by="bob")
        done = wait_for(lambda: (t := core.task(follow_up.id)).status.is_final and t, timeout=120, what="the push")
        assert other.poll() is None, "the worker runs on"
    assert done.status is TaskStatus.SUCCEEDED, done.error
    assert done.worker_id and first_worker and done.worker_id.split("/")[0] != first_worker.split("/")[0]
    pull = result_of(done).pull_request
    assert pull is not None and (pull.branch, pull.pull_number) == (opened.branch, opened.pull_number)
    log = git("log", "--format=%s", f"main..{opened.branch}", cwd=world.remote).splitlines()
    assert log == ["Accept numeric strings", "Fix add() to add"]


def _comment_payload(text: str, number: int) -> dict[str, Any]:
    payload = json.loads((FIXTURES / "github-webhooks/issue_comment/created.payload.json").read_text())
    _repository(payload)
    payload["issue"]["number"] = number
    payload["issue"]["pull_request"] = {"url": f"https://api.github.invalid/repos/{REPO}/pulls/{number}"}
    payload["comment"].update(body=text, author_association="COLLABORATOR")
    payload["comment"]["user"]["login"] = payload["sender"]["login"] = "alice"
    return payload


def test_a_follow_up_goes_by_the_default_branchs_settings_not_the_branch_the_agent_wrote(world: World) -> None:
    """The agent's branch says `auto_approve = true` (approved once, as part of a change): a follow-up on it still
    waits for a person, because what a repository allows is read from its default branch."""
    core = world.core
    create = {"command": "create", "path": ".dockhand.toml", "file_text": "[github]\nauto_approve = true\n"}
    fixing = fixing_script()  # the agent adds the setting along with its fix, after reproducing the bug
    world.model.script = [*fixing[:4], Reply([tool_use("str_replace_based_edit_tool", create)]), *fixing[4:]]
    first = ask(core, "Make add() add.")
    opened = run_and_approve(core, first).pull_request
    assert "auto_approve" in git("show", f"{opened.branch}:.dockhand.toml", cwd=world.remote)
    world.model.script = numeric_strings_script()
    second = ask(core, "also accept numeric strings", continues=first)
    task = core.run_now(second)
    assert task.status is TaskStatus.AWAITING_APPROVAL, task.error

"""Signed deliveries over HTTP → stored → intake → tasks or one refusal, against the fake GitHub."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlmodel import select

from bot.github.intake import GitHubIntake, github_client_factory, rules_from
from bot.github.signature import sign
from bot.http.app import create_app
from core.models import Installation, WebhookDelivery
from core.service import Core
from core.states import TaskType, TriggerSource
from core.store.queue_types import TaskFilter
from tests.conftest import FIXTURES as REPO_FIXTURES
from tests.support.fake_github import FakeGitHub, running_fake_github
from tests.support.server import serve_in_thread
from tests.support.store import database

SECRET = "intake-secret"
REPO = "Codertocat/Hello-World"
FIXTURES = REPO_FIXTURES / "github-webhooks"


@pytest.fixture
def world(core_factory) -> Iterator[tuple[Core, FakeGitHub, GitHubIntake, Any]]:  # type: ignore[no-untyped-def]
    fake = FakeGitHub()
    fake.add_repo(REPO, default_branch="master")
    fake.issues[(REPO, 1)] = {"title": "Spelling error in the README file", "body": "", "user": {"login": "Codertocat"}}
    fake.permissions.update({(REPO, "Codertocat"): "admin", (REPO, "reader"): "read"})
    with running_fake_github(fake) as (fake, url):
        core = core_factory(github_webhook_secret=SECRET, github_token="ghp_fake_token", github_api_url=url)
        intake = GitHubIntake(core, github_client_factory(core.settings), rules_from(core.settings))
        with serve_in_thread(create_app(core, api_token="t")) as base, httpx.Client(base_url=base) as http:

            def deliver(event: str, payload: dict[str, Any], delivery: str) -> httpx.Response:
                body = json.dumps(payload).encode()
                return http.post(
                    "/webhook/github",
                    content=body,
                    headers={
                        "X-GitHub-Event": event,
                        "X-GitHub-Delivery": delivery,
                        "X-GitHub-Hook-ID": "7",
                        "X-Hub-Signature-256": sign(body, SECRET),
                        "Content-Type": "application/json",
                    },
                )

            yield core, fake, intake, deliver
    assert fake.contract_errors == []


def load(event: str, name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / event / name).read_text())


def test_a_push_to_the_default_branch_queues_a_test_pipeline_once(world) -> None:  # type: ignore[no-untyped-def]
    core, _, intake, deliver = world
    push = load("push", "with-new-branch.payload.json")
    assert deliver("push", push, "d-1").json()["status"] == "queued"
    assert deliver("push", push, "d-1").json()["status"] == "duplicate"
    assert core.tasks(TaskFilter()) == [], "nothing runs in the request path"
    assert intake.process_pending() == 1
    [task] = core.tasks(TaskFilter())
    assert task.type is TaskType.TEST_PIPELINE and task.repository == REPO and task.payload["ref"] == push["after"]
    assert task.trigger_source is TriggerSource.GITHUB and task.triggered_by == "Codertocat"
    assert intake.process_pending() == 0
    with database(core).read() as session:
        row = session.exec(select(WebhookDelivery)).one()
    assert row.processed_at is not None and row.payload is None and row.task_id == task.id


def test_a_mention_by_a_writer_starts_the_command(world) -> None:  # type: ignore[no-untyped-def]
    core, fake, intake, deliver = world
    comment = load("issue_comment", "created.payload.json")
    comment["comment"]["body"] = "@dockhand test please"
    comment["issue"]["pull_request"] = {"url": f"https://api.github.com/repos/{REPO}/pulls/1"}
    deliver("issue_comment", comment, "m-1")
    intake.process_pending()
    [task] = core.tasks(TaskFilter(types=[TaskType.TEST_PIPELINE]))
    assert task.payload["ref"] == "pull/1/head" and task.trigger_ref == f"{REPO}#1"
    assert ("GET", f"/repos/{REPO}/collaborators/Codertocat/permission", None) in fake.requests
    comment["comment"]["body"] = "@dockhand cancel"
    deliver("issue_comment", comment, "m-2")
    intake.process_pending()
    assert core.task(task.id).status.value == "cancelled"


def test_a_mention_by_a_reader_gets_one_short_reply_and_no_task(world) -> None:  # type: ignore[no-untyped-def]
    core, fake, intake, deliver = world
    comment = load("issue_comment", "created.payload.json")
    comment["comment"]["body"] = "@dockhand fix this"
    comment["comment"]["user"]["login"] = "reader"
    comment["comment"]["author_association"] = "COLLABORATOR"
    deliver("issue_comment", comment, "r-1")
    intake.process_pending()
    assert core.tasks(TaskFilter()) == []
    [reply] = fake.comments.values()
    assert reply["body"].startswith("Sorry @reader") and "write access" in reply["body"]


def test_bots_and_unrelated_events_create_nothing(world) -> None:  # type: ignore[no-untyped-def]
    core, fake, intake, deliver = world
    comment = load("issue_comment", "created.payload.json")
    comment["comment"]["body"] = "@dockhand fix this"
    comment["comment"]["user"]["type"] = "Bot"
    deliver("issue_comment", comment, "b-1")
    deliver("check_run", load("check_run", "created.payload.json"), "c-1")
    deliver("pull_request", load("pull_request", "closed.payload.json"), "p-1")
    before = len(fake.requests)
    intake.process_pending()
    assert core.tasks(TaskFilter()) == [] and len(fake.requests) == before and fake.comments == {}
    with database(core).read() as session:
        outcomes = sorted(r.outcome or "" for r in session.exec(select(WebhookDelivery)).all() if r.outcome)
    assert all(o.startswith("ignored") for o in outcomes) and len(outcomes) == 3, outcomes


def test_signed_deliveries_of_the_wrong_shape_are_ignored_as_malformed(world) -> None:  # type: ignore[no-untyped-def]
    core, _fake, intake, deliver = world
    push = load("push", "with-new-branch.payload.json")
    opened = load("issues", "opened.payload.json")
    hostile = [
        ("push", {**push, "installation": "x"}),
        ("push", {**push, "repository": {**push["repository"], "full_name": 12}}),
        ("issues", {**opened, "issue": {**opened["issue"], "number": 1e300}}),
        ("issues", {**opened, "repository": None}),
        ("issue_comment", {"action": "created", "comment": "@dockhand fix"}),
        ("pull_request", {"action": "opened", "pull_request": []}),
        ("installation", {"action": "created", "installation": {"id": "7", "account": {"login": "x"}}}),
    ]
    for n, (event, payload) in enumerate(hostile):
        assert deliver(event, payload, f"hostile-{n}").status_code == 202
    intake.process_pending()
    with database(core).read() as session:
        rows = session.exec(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()  # type: ignore[arg-type]
        outcomes = [r.outcome or "" for r in rows]
    assert len(outcomes) == len(hostile)
    assert all(o.startswith(f"ignored: malformed {e} payload") for o, (e, _) in zip(outcomes, hostile, strict=True)), (
        outcomes
    )
    assert core.tasks(TaskFilter()) == []


def test_installations_are_recorded(world) -> None:  # type: ignore[no-untyped-def]
    core, _, intake, deliver = world
    deliver("installation", load("installation", "created.payload.json"), "i-1")
    deliver("installation_repositories", load("installation_repositories", "added.payload.json"), "i-2")
    intake.process_pending()
    with database(core).read() as session:
        [row] = session.exec(select(Installation)).all()
    assert row.account == "Codertocat" and row.repositories == ["Codertocat/Hello-World", "Codertocat/Space"]


def test_issue_and_review_triggers_wait_for_their_pipelines(world) -> None:  # type: ignore[no-untyped-def]
    core, _, intake, deliver = world
    deliver("pull_request", load("pull_request", "opened.payload.json"), "pr-1")
    intake.process_pending()
    with database(core).read() as session:
        [row] = session.exec(select(WebhookDelivery)).all()
    assert row.outcome and "no pipeline is registered for pr-review" in row.outcome


def test_a_delivery_claimed_by_a_dead_intake_is_taken_over(world) -> None:  # type: ignore[no-untyped-def]
    core, _, intake, deliver = world
    deliver("push", load("push", "with-new-branch.payload.json"), "s-1")
    [claimed] = core.deliveries.claim_pending("github", lease_seconds=2)  # an intake that then died
    assert intake.process_pending() == 0, "a live lease is respected"
    time.sleep(3.1)  # the lease runs out: taken over within seconds, not minutes
    assert intake.process_pending() == 1 and len(core.tasks(TaskFilter())) == 1
    # The dead intake, were it to wake up, finds the delivery no longer its own and leaves it alone.
    assert core.deliveries.extend(claimed) is False


def test_a_lease_is_renewed_while_its_holder_works(world) -> None:  # type: ignore[no-untyped-def]
    core, _, _, deliver = world
    deliver("push", load("push", "with-new-branch.payload.json"), "l-1")
    [mine] = core.deliveries.claim_pending("github", lease_seconds=2)
    time.sleep(1.2)
    assert core.deliveries.extend(mine, lease_seconds=2)  # renewed before its lease ran out
    time.sleep(1.2)  # past the first lease, within the renewed one
    assert core.deliveries.claim_pending("github") == [], "a renewed lease is respected"


def test_one_progress_comment_is_edited_as_the_task_advances(world) -> None:  # type: ignore[no-untyped-def]
    from bot.github.progress import ProgressComments
    from core.specs import TaskSubmission
    from tests.support.waiting import wait_for

    core, fake, _, _ = world
    core.bus.subscribe(ProgressComments(core, github_client_factory(core.settings)), name="progress")
    task = core.submit(
        TaskSubmission(
            type=TaskType.CUSTOM,
            payload={"command": "echo working"},
            trigger_source=TriggerSource.GITHUB,
            trigger_ref=f"{REPO}#1",
            triggered_by="Codertocat",
        )
    ).task
    core.start(workers=1)
    wait_for(lambda: core.task(task.id).status.is_final, what="the task")
    [(_, comment)] = wait_for(
        lambda: [(i, c) for i, c in fake.comments.items() if "**succeeded**" in c["body"]], what="the final edit"
    )
    assert len(fake.comments) == 1, "one comment, edited in place"
    # Edited at least once after it was posted (a busy machine may coalesce the steps between into one edit).
    assert comment["edits"] >= 1 and f"`{task.id}`" in comment["body"] and "✅ run" in comment["body"]
    assert [m for m, p, _ in fake.requests if p.endswith("/issues/1/comments")] == ["POST"]
    # Events that change nothing the comment shows send nothing (here: the final event, delivered again).
    from datetime import UTC, datetime

    from core.events import TaskEventRecord
    from core.states import EventKind

    def patches() -> int:
        return len([m for m, p, _ in fake.requests if m == "PATCH"])

    edits = patches()
    while True:  # the subscriber may still be handling the task's last events: wait until it is done
        time.sleep(0.5)
        if patches() == edits:
            break
        edits = patches()
    again = TaskEventRecord(
        id=10**9, task_id=task.id, kind=EventKind.STAGE_FINISHED, status=None, stage="run", message="",
        data={}, created_at=datetime.now(UTC),
    )  # fmt: skip
    progress = ProgressComments(core, github_client_factory(core.settings))
    progress(again)  # a fresh process does not know what the comment says: one edit
    progress(again)
    progress(again)
    assert patches() == edits + 1


def test_an_app_deliverys_installation_is_remembered_for_its_repository(world) -> None:  # type: ignore[no-untyped-def]
    from bot.github.intake import installation_for

    core, _, intake, deliver = world
    push = load("push", "with-installation.payload.json")
    push["ref"], push["deleted"] = "refs/heads/master", False
    deliver("push", push, "app-1")
    intake.process_pending()
    assert installation_for(core, push["repository"]["full_name"]) == push["installation"]["id"]
    assert installation_for(core, "someone/else") is None


def test_github_test_pipelines_set_commit_statuses(world) -> None:  # type: ignore[no-untyped-def]
    from bot.github.progress import CommitStatuses
    from core.models import Task
    from core.specs import TaskSubmission
    from core.states import TaskStatus
    from tests.support.waiting import wait_for

    core, fake, _, _ = world
    core.bus.subscribe(CommitStatuses(core, github_client_factory(core.settings)), name="statuses")
    sha = "c" * 40
    task = core.submit(
        TaskSubmission(
            type=TaskType.TEST_PIPELINE,
            repository=REPO,
            payload={"ref": sha},
            trigger_source=TriggerSource.GITHUB,
            trigger_ref=f"{REPO}@master",
        )
    ).task
    claim = core.queue.claim("w")
    assert claim is not None
    result = {
        "status": "passed",
        "commit": sha,
        "projects": [
            {
                "language": "python",
                "root": ".",
                "status": "passed",
                "coverage_percent": 87.5,
                "totals": {"passed": 3, "failed": 0, "skipped": 1, "errors": 0},
            }
        ],
    }

    core.queue.finish(claim, TaskStatus.SUCCEEDED, result=result)
    statuses = wait_for(lambda: fake.statuses if len(fake.statuses) == 2 else None, what="two statuses")
    assert [s["state"] for s in statuses] == ["pending", "success"]
    assert statuses[1]["context"] == "dockhand/tests" and statuses[1]["sha"] == sha
    assert statuses[1]["description"] == "python: 3 passed, 0 failed, 88% covered"
    assert isinstance(core.task(task.id), Task)


def test_a_repositorys_dockhand_toml_changes_what_its_events_mean(world) -> None:  # type: ignore[no-untyped-def]
    core, fake, intake, deliver = world
    push = load("push", "with-new-branch.payload.json")
    # Pushes to the default branch normally run the tests; this repository turned them off.
    fake.files[(REPO, "master", ".dockhand.toml")] = "[github]\ntests = false\n"
    deliver("push", push, "p-1")
    intake.process_pending()
    assert core.tasks(TaskFilter()) == []
    # Another repository setting: only release branches (a glob) run them.
    intake._configs.clear()
    fake.files[(REPO, "master", ".dockhand.toml")] = '[github]\nbranches = ["release/*"]\n'
    deliver("push", push, "p-2")
    deliver("push", {**push, "ref": "refs/heads/release/2.0", "after": "b" * 40}, "p-3")
    intake.process_pending()
    [task] = core.tasks(TaskFilter())
    assert task.payload["ref"] == "b" * 40


def test_a_repositorys_own_trigger_label(world) -> None:  # type: ignore[no-untyped-def]
    core, fake, intake, deliver = world
    labeled = load("issues", "labeled.payload.json")
    fake.files[(REPO, "master", ".dockhand.toml")] = f'[github]\ntrigger_label = "{labeled["label"]["name"]}"\n'
    deliver("issues", labeled, "l-1")
    intake.process_pending()
    with database(core).read() as session:
        outcome = session.exec(select(WebhookDelivery.outcome)).one()
    # The label now means "resolve": the task is refused only because no issue pipeline is attached here.
    assert outcome is not None and "no pipeline is registered for issue-resolution" in outcome


def test_a_broken_dockhand_toml_falls_back_to_the_settings(world) -> None:  # type: ignore[no-untyped-def]
    core, fake, intake, deliver = world
    fake.files[(REPO, "master", ".dockhand.toml")] = "[github\ntests = nope"
    deliver("push", load("push", "with-new-branch.payload.json"), "b-1")
    intake.process_pending()
    assert len(core.tasks(TaskFilter())) == 1


def test_with_a_github_app_test_pipelines_get_a_check_run(core_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from bot.github.progress import CommitStatuses
    from core.specs import TaskSubmission
    from core.states import TaskStatus
    from tests.support.waiting import wait_for

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "app.pem").write_bytes(pem)
    fake = FakeGitHub()
    fake.add_repo(REPO, default_branch="master")
    fake.add_app(42, public.decode(), installation_id=99)
    with running_fake_github(fake) as (fake, url):
        core = core_factory(github_app_id=42, github_app_private_key_path=tmp_path / "app.pem", github_api_url=url)
        with database(core).write() as session:
            session.add(Installation(id=99, account="Codertocat", repositories=[REPO]))
        core.bus.subscribe(CommitStatuses(core, github_client_factory(core.settings)), name="statuses")
        sha = "d" * 40
        core.submit(
            TaskSubmission(
                type=TaskType.TEST_PIPELINE,
                repository=REPO,
                payload={"ref": sha},
                trigger_source=TriggerSource.GITHUB,
                trigger_ref=f"{REPO}@master",
            )
        )
        claim = core.queue.claim("w")
        assert claim is not None
        wait_for(lambda: fake.check_runs, what="a check run in progress")
        (run_id,) = fake.check_runs
        assert fake.check_runs[run_id]["status"] == "in_progress"
        result = {"status": "failed", "commit": sha, "projects": [
            {"language": "python", "root": ".", "status": "failed", "totals": {"passed": 1, "failed": 2}}]}  # fmt: skip
        core.queue.finish(claim, TaskStatus.FAILED, result=result, error="tests failed")
        run = wait_for(lambda: fake.check_runs[run_id] if fake.check_runs[run_id]["status"] == "completed" else None)
    assert run["conclusion"] == "failure" and run["head_sha"] == sha and len(fake.check_runs) == 1
    assert run["output"]["title"] == "python: 1 passed, 2 failed"
    assert fake.statuses == []  # an App reports with check runs, not statuses
    assert fake.contract_errors == []


def test_a_stored_delivery_wakes_the_intake_at_once(world) -> None:  # type: ignore[no-untyped-def]
    from tests.support.waiting import wait_for

    core, _, intake, deliver = world
    core.start(workers=0)
    core.every("github-intake", 3600, intake.process_pending)  # its own next run is an hour away
    assert deliver("push", load("push", "with-new-branch.payload.json"), "n-1").json()["status"] == "queued"
    wait_for(lambda: core.tasks(TaskFilter()), timeout=10, what="the task, long before the intake's next poll")


def test_a_second_fix_for_an_issue_being_resolved_answers_already_on_it(world) -> None:  # type: ignore[no-untyped-def]
    from core.pipeline import Pipeline

    core, fake, intake, deliver = world
    core.registry.register(TaskType.ISSUE_RESOLUTION, Pipeline(name="issue-resolution", stages=()))  # not run here
    comment = load("issue_comment", "created.payload.json")
    comment["comment"]["body"] = "@dockhand fix this"
    deliver("issue_comment", comment, "f-1")
    intake.process_pending()
    [task] = core.tasks(TaskFilter(types=[TaskType.ISSUE_RESOLUTION]))
    core.notifications.remember(task.id, "github-comment", "4242")  # its progress comment
    comment["comment"]["body"] = "@dockhand fix this too"
    deliver("issue_comment", comment, "f-2")
    intake.process_pending()
    assert len(core.tasks(TaskFilter(types=[TaskType.ISSUE_RESOLUTION]))) == 1
    [reply] = [c for c in fake.comments.values() if c["body"].startswith("Already on it")]
    assert f"task `{task.id}` is pending" in reply["body"] and f"{REPO}/issues/1#issuecomment-4242" in reply["body"]


def test_a_ci_failure_of_a_step_still_finishing_waits_for_it(world) -> None:  # type: ignore[no-untyped-def]
    """A fast check can fail on the commit a step has pushed while the step still finishes (replies, clean-up):
    the delivery waits for the step to end, then is decided (here: reported, fixing CI being off)."""
    from core.pipeline import Pipeline
    from core.specs import TaskSubmission
    from core.states import TaskStatus
    from tests.support.waiting import wait_for

    core, fake, intake, deliver = world
    core.registry.register(TaskType.CHANGE, Pipeline(name="change", stages=()))
    intake.ci.recheck_seconds = 0.5
    branch, head = "dockhand/change-1-x", "c" * 40
    fake.add_pull(REPO, 2, head_sha=head, head=branch, base="master")
    pushed = {"branch": branch, "commit": head, "pull_number": 2, "pull_url": f"https://x/{REPO}/pull/2"}

    def step(continues: str | None) -> str:
        payload = {"request": "a change", **({"continues": continues} if continues else {})}
        return core.submit(TaskSubmission(type=TaskType.CHANGE, repository=REPO, payload=payload)).task.id

    first = step(None)
    claim = core.queue.claim("w", task_id=first)
    assert claim is not None
    core.queue.finish(claim, TaskStatus.SUCCEEDED, result={"pull_request": {**pushed, "commit": "d" * 40}})
    second = step(first)
    working = core.queue.claim("w", task_id=second)
    assert working is not None
    payload = load("check_run", "completed.payload.json")
    payload["check_run"].update(head_sha=head, conclusion="failure")
    payload["check_run"]["check_suite"].update(head_branch=branch, head_sha=head)
    deliver("check_run", payload, "ci-1")
    assert intake.process_pending() == 1 and intake.process_pending() == 0, "handed back, not taken again at once"
    assert fake.comments == {}
    core.queue.finish(working, TaskStatus.SUCCEEDED, result={"pull_request": pushed})
    wait_for(lambda: intake.process_pending(), timeout=10, what="the delivery to be taken again")
    (report,) = fake.comments.values()
    assert report["body"].startswith(f"CI failed on {head[:12]}")

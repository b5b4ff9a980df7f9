"""The intake chain every trigger passes (audit → dedupe → authorise → rate-limit → route), on both stores,
and the front ends' parsers that build its triggers."""

from __future__ import annotations

from collections.abc import Callable

from bot.github.events import Actor as GitHubActor
from bot.github.events import Command as GitHubCommand
from bot.github.events import IssueOpened, Mention, Repo
from bot.github.triggers import task_trigger
from bot.slack.commands import Resolve, Review, trigger_of
from core.intake.authorise import ALLOWED, TRUSTED, Decision, refused
from core.intake.chain import Admission
from core.intake.trigger import Actor, Trigger
from core.service import Core
from core.specs import CustomSpec, IssueResolutionSpec, PRReviewSpec
from core.states import TaskStatus, TaskType, TriggerSource


class CountingAuthoriser:
    """Decides as told, and counts how often it was asked (a GitHub permission look-up costs an API call)."""

    def __init__(self, decision: Decision) -> None:
        self.decision = decision
        self.asked: list[Trigger] = []

    def decide(self, trigger: Trigger) -> Decision:
        self.asked.append(trigger)
        return self.decision


def command(dedup_key: str | None = None, *, actor: str = "U1", source: TriggerSource = TriggerSource.SLACK) -> Trigger:
    return Trigger(
        source=source,
        actor=Actor(id=actor),
        spec=CustomSpec(command="true"),
        repository="acme/api",
        dedup_key=dedup_key,
    )


def test_a_started_trigger_is_stored_and_audited_once(core: Core) -> None:
    outcome = core.intake.handle(command("slack:1"), TRUSTED)
    assert outcome.admission is Admission.STARTED and outcome.task is not None
    stored = core.task(outcome.task.id)
    assert (stored.trigger_source, stored.triggered_by, stored.dedup_key) == (TriggerSource.SLACK, "U1", "slack:1")
    assert [(e.action, e.outcome, e.task_id) for e in core.audit.recent()] == [("submit", "done", outcome.task.id)]


def test_the_same_request_again_is_answered_before_anyone_is_asked(core: Core) -> None:
    first = core.intake.handle(command("github:hook:delivery-7"), TRUSTED)
    authoriser = CountingAuthoriser(ALLOWED)
    again = core.intake.handle(command("github:hook:delivery-7"), authoriser)
    assert again.admission is Admission.DUPLICATE and again.task is not None and first.task is not None
    assert again.task.id == first.task.id
    assert authoriser.asked == [], "a redelivered request must not cost a permission look-up"
    assert len(core.audit.recent()) == 1, "a duplicate is the same request: not audited again"


def test_a_refusal_stores_nothing_and_is_audited_with_its_reason(core: Core) -> None:
    authoriser = CountingAuthoriser(refused("@mallory needs write access to acme/api"))
    outcome = core.intake.handle(command("slack:2", actor="mallory"), authoriser)
    assert outcome.admission is Admission.REFUSED and outcome.task is None
    assert outcome.reason == "@mallory needs write access to acme/api"
    assert core.queue.counts_by_status()[TaskStatus.PENDING] == 0
    (entry,) = core.audit.recent()
    assert (entry.actor, entry.source, entry.action, entry.outcome, entry.detail) == (
        "mallory",
        "slack",
        "trigger",
        "refused",
        "@mallory needs write access to acme/api",
    )


def test_limits_and_unrunnable_requests_are_outcomes_not_exceptions(core_factory: Callable[..., Core]) -> None:
    core = core_factory(submissions_per_minute=1)
    assert core.intake.handle(command("a"), TRUSTED).admission is Admission.STARTED
    limited = core.intake.handle(command("b"), TRUSTED)
    assert limited.admission is Admission.RATE_LIMITED and limited.task is None and limited.error is not None
    review = Trigger(source=TriggerSource.API, actor=Actor(id="api"), spec=PRReviewSpec(pr_number=3), repository="a/b")
    unrunnable = core.intake.handle(review, TRUSTED)  # the test core registers no review pipeline
    assert unrunnable.admission is Admission.NOT_STARTED and "pr-review" in unrunnable.reason
    assert [(e.outcome, e.action) for e in reversed(core.audit.recent())] == [
        ("done", "submit"),
        ("rate-limited", "submit"),
        ("refused", "submit"),
    ]


def test_a_second_request_for_live_work_gets_the_live_task(core: Core) -> None:
    resolve = IssueResolutionSpec(issue_number=12)
    first = Trigger(source=TriggerSource.SLACK, actor=Actor(id="U1"), spec=resolve, repository="acme/api")
    second = Trigger(source=TriggerSource.GITHUB, actor=Actor(id="octocat"), spec=resolve, repository="acme/api")
    core.registry.register(TaskType.ISSUE_RESOLUTION, core.registry.get(TaskType.CUSTOM))  # stored, never run
    started = core.intake.handle(first, TRUSTED)
    again = core.intake.handle(second, TRUSTED)
    assert again.admission is Admission.ALREADY_LIVE and again.task is not None and started.task is not None
    assert again.task.id == started.task.id


def test_slack_and_github_ask_for_an_issue_with_the_same_trigger() -> None:
    """Two parsers, one shape: only where it came from and who asked differ."""
    from_slack = trigger_of(
        Resolve(repository="acme/api", number=12), user="U1", channel="C1", dedup_key="slack:command:x"
    )
    repo = Repo(full_name="acme/api", default_branch="main", clone_url="https://github.test/acme/api.git")
    actor = GitHubActor(login="octocat", is_bot=False, association="MEMBER")
    from_github = task_trigger(
        IssueOpened(repo=repo, number=12, title="t", body="", labels=(), actor=actor), dedup_key="github:h:d"
    )
    assert from_github is not None
    assert from_slack.spec == from_github.spec == IssueResolutionSpec(issue_number=12)
    assert (
        (from_slack.repository, from_slack.ref)
        == (from_github.repository, from_github.ref)
        == (
            "acme/api",
            "acme/api#12",
        )
    )
    assert (from_slack.source, from_github.source) == (TriggerSource.SLACK, TriggerSource.GITHUB)
    assert from_slack.reply_to == "C1" and from_github.actor.id == "octocat"
    review = trigger_of(Review(repository="acme/api", number=3, budget_usd=2.0), user="U1", channel="C1", dedup_key="k")
    assert review.spec == PRReviewSpec(pr_number=3, budget_usd=2.0)
    steering = Mention(
        repo=repo,
        number=12,
        on_pull_request=False,
        command=GitHubCommand.CANCEL,
        argument="",
        comment_id=1,
        actor=actor,
    )
    assert task_trigger(steering, dedup_key="k") is None, "cancel acts on tasks: it starts none"


def test_one_follow_up_at_a_time_on_an_earlier_step(core: Core) -> None:
    """Two follow-ups on one step would both push onto its branch: the second is told the first is on it."""
    from core.specs import ChangeSpec

    core.registry.register(TaskType.CHANGE, core.registry.get(TaskType.CUSTOM))  # stored, never run

    def follow_up(request: str) -> Trigger:
        spec = ChangeSpec(request=request, continues="0000000000a1")
        return Trigger(source=TriggerSource.SLACK, actor=Actor(id="U1"), spec=spec, repository="acme/api")

    first = core.intake.handle(follow_up("also handle negatives"), TRUSTED)
    second = core.intake.handle(follow_up("and floats"), TRUSTED)
    assert first.admission is Admission.STARTED and second.admission is Admission.ALREADY_LIVE
    assert second.task is not None and first.task is not None and second.task.id == first.task.id

"""What task a GitHub event asks for, as the intake's typed `Trigger`: a pure function, no I/O."""

from __future__ import annotations

import re

from bot.github.events import Asked, Command, IssueOpened, PullRequestChanged, Pushed, Reviewed, StartsWork
from core.intake.trigger import Actor as IntakeActor
from core.intake.trigger import Trigger, spec_of
from core.specs import ChangeSpec, CiFailure, IssueResolutionSpec, PRReviewSpec, ReviewRequest, Spec, TestPipelineSpec
from core.states import TriggerSource

# "@dockhand address the review" on a pull request: a follow-up that reads the newest review's comments.
ADDRESS_REVIEW = re.compile(r"\baddress\b.{0,40}\breview", re.IGNORECASE | re.DOTALL)
# "@dockhand fix the failing checks": a follow-up that gets the CI failure reported on the pull request.
FIX_CI = re.compile(r"\b(?:fix|repair)\b.{0,40}\b(?:ci|checks?|build)\b", re.IGNORECASE | re.DOTALL)


def task_trigger(
    event: StartsWork, *, dedup_key: str, continues: str | None = None, ci: CiFailure | None = None
) -> Trigger | None:
    """The task an event asks for (None: a steering command, which starts none); raises
    `core.errors.ValidationError` for one no task can be."""
    repo, who = event.repo.full_name, IntakeActor(id=event.actor.login, is_bot=event.actor.is_bot)
    spec: Spec
    if isinstance(event, Asked):  # a follow-up: `continues` is the task whose work it adds to
        review = ReviewRequest() if event.on_pull_request and ADDRESS_REVIEW.search(event.request) else None
        spec = spec_of(ChangeSpec, request=event.request, continues=continues, review=review, ci=ci)
        ref = f"{repo}#{event.number}"
    elif isinstance(event, Reviewed):
        request = event.body.strip() or "Address the review's comments."
        spec = spec_of(
            ChangeSpec, request=request, continues=continues, review=ReviewRequest(review_id=event.review_id)
        )
        ref = f"{repo}#{event.number}"
    elif isinstance(event, Pushed):
        spec, ref = spec_of(TestPipelineSpec, ref=event.after), f"{repo}@{event.branch}"
    elif isinstance(event, PullRequestChanged):
        spec, ref = spec_of(PRReviewSpec, pr_number=event.number), f"{repo}#{event.number}"
    elif isinstance(event, IssueOpened) or event.command in (Command.FIX, Command.RESOLVE):
        spec, ref = spec_of(IssueResolutionSpec, issue_number=event.number), f"{repo}#{event.number}"
    elif event.command is Command.REVIEW:
        spec, ref = spec_of(PRReviewSpec, pr_number=event.number), f"{repo}#{event.number}"
    elif event.command is Command.TEST:
        git_ref = f"pull/{event.number}/head" if event.on_pull_request else None
        spec, ref = spec_of(TestPipelineSpec, ref=git_ref), f"{repo}#{event.number}"
    else:
        return None
    return Trigger(source=TriggerSource.GITHUB, actor=who, spec=spec, repository=repo, ref=ref, dedup_key=dedup_key)

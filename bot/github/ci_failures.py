"""CI failed on one of dockhand's pull requests: fix it with a follow-up, or say so with a way to ask for one.

A failed check run, check suite or workflow run on a dockhand branch is matched to the conversation whose newest
step pushed that very commit (a failure of an older commit, or while a step still works, is left alone). The
failing checks and the end of a failing job's log are read once. Then, if the repository allows it (`fix_ci` in
its `.dockhand.toml` on the default branch, or DOCKHAND_FIX_CI) and the pull request is within its limits
(automatic attempts, the conversation's total cost), a follow-up starts to fix it; otherwise the failure is
reported once per commit: a comment on the pull request, and an event the Slack thread shows with a "Fix it" button.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.github.events import ChecksFailed
from bot.github.feedback import failed_checks, job_log_tail
from bot.github.intake_types import ClientFor, Handled, github_client
from core.conversation import (
    CONTINUED_TYPES,
    all_steps,
    ci_fix_trigger,
    latest_step,
    reported_ci_failure,
    spending,
    steps_before,
    stopped_by,
)
from core.errors import DockhandError
from core.intake.authorise import TRUSTED
from core.intake.trigger import Actor
from core.models import Task
from core.repo_config import RepositoryConfig
from core.results import result_of
from core.service import Core
from core.specs import CiFailure
from core.states import EventKind, TaskStatus, TriggerSource
from core.store.queue_types import TaskFilter

log = logging.getLogger(__name__)

REPORTED = "ci-reported"  # notification channel: the failure of this commit was reported (once)
RECHECK_SECONDS = 20.0
AUTOMATIC = "ci"  # who asks for an automatic fix (what the per-PR limit counts)


class CiFailures:
    def __init__(
        self, core: Core, client_for: ClientFor, config_of: Callable[[str, int | None], RepositoryConfig]
    ) -> None:
        self.core = core
        self.client_for = client_for
        self.config_of = config_of
        self.recheck_seconds = RECHECK_SECONDS

    def failed(self, event: ChecksFailed) -> Handled:
        repository, settings = event.repo.full_name, self.core.settings
        if event.app_id is not None and event.app_id == settings.github_app_id:
            return Handled(f"ignored: {event.what} is dockhand's own")
        step = self._step_that_pushed(repository, event.branch)
        if step is None:
            return Handled(f"ignored: no work of dockhand's pushed {event.branch}")
        if step.status is TaskStatus.RUNNING:  # it may have pushed this very commit and be finishing: ask again
            return Handled(
                f"waiting: task {step.id} still works on {event.branch}", retry_in_seconds=self.recheck_seconds
            )
        if not step.status.is_final:
            return Handled(f"ignored: task {step.id} still works on {event.branch}")
        pushed = result_of(step).pull_request
        if pushed is None or pushed.commit != event.head_sha:
            return Handled(f"ignored: {event.what} failed on {event.head_sha[:12]}, not dockhand's newest commit")
        if pushed.pull_number not in event.pull_numbers:  # a fork's run of the same commit names no PR here
            return Handled(f"ignored: {event.what} is not on pull request #{pushed.pull_number}")
        fix_key = f"github:ci:{repository}:{event.head_sha}"
        earlier_fix = self.core.queue.find_by_dedup_key(fix_key)
        if earlier_fix is not None and not (
            earlier_fix.status.is_final and earlier_fix.status is not TaskStatus.SUCCEEDED
        ):
            return Handled(f"already fixing it: task {earlier_fix.id}", task_id=earlier_fix.id)
        if self.core.notifications.get(step.id, REPORTED) is not None:
            return Handled(f"reported already: CI failed on {event.head_sha[:12]}", task_id=step.id)
        failure = self._failure(event)  # read once per commit: a second failing check is answered above
        why_not = self._why_not_fix(repository, event.repo.installation_id, step)
        if why_not is None and earlier_fix is not None:
            why_not = f"the automatic fix (task {earlier_fix.id}) {earlier_fix.status.value}"
        if why_not is None:
            trigger = ci_fix_trigger(
                step,
                failure,
                actor=Actor(id=AUTOMATIC, is_bot=True),
                source=TriggerSource.GITHUB,
                dedup_key=fix_key,
                ref=f"{repository}#{pushed.pull_number}",
            )
            outcome = self.core.intake.handle(trigger, TRUSTED)
            if outcome.task is not None:
                return Handled(f"fixing CI: task {outcome.task.id}", task_id=outcome.task.id)
            return Handled(f"not started: {outcome.reason}")
        if self.core.notifications.remember(step.id, REPORTED, event.head_sha):
            self._report(step, pushed.pull_number, failure, why_not, event.repo.installation_id)
        return Handled(f"reported: {why_not}", task_id=step.id)

    def reported_failure(self, step: Task) -> CiFailure | None:
        """The CI failure reported on the step's newest commit ("@dockhand fix the failing checks" gets it)."""
        pushed, failure = result_of(step).pull_request, reported_ci_failure(self.core.journal, step)
        return failure if failure is not None and pushed is not None and failure.head_sha == pushed.commit else None

    def _step_that_pushed(self, repository: str, branch: str) -> Task | None:
        found = self.core.tasks(
            TaskFilter(
                types=CONTINUED_TYPES,
                repository=repository,
                statuses=(TaskStatus.SUCCEEDED,),
                result_equals={"pull_request.branch": branch},
                limit=1,
            )
        )
        return latest_step(self.core.queue, found[0]) if found else None

    def _failure(self, event: ChecksFailed) -> CiFailure:
        """What failed on the commit, and the end of the first failing job's log (a failure to read either is
        said in the summary, never fatal)."""
        repository, checks, log_tail, summary = event.repo.full_name, [event.what], "", event.summary
        try:
            with github_client(self.client_for, event.repo.installation_id) as client:
                failing = failed_checks(client, repository, event.head_sha)
                if failing:
                    checks = [check.name for check in failing]
                    summary = "\n\n".join(f"{c.name}: {c.summary}" if c.summary else c.name for c in failing)
                job = next((check.job_id for check in failing if check.job_id is not None), None)
                if job is not None:
                    log_tail = job_log_tail(client, repository, job)
        except DockhandError as exc:
            log.warning("%s: could not read what failed on %s: %s", repository, event.head_sha[:12], exc)
            summary = f"{summary}\n(the details could not be read: {exc})".strip()
        return CiFailure(
            head_sha=event.head_sha, checks=[_clean(name)[:300] or "?" for name in checks[:50]],
            url=_clean(event.url)[:2000] or None, summary=_clean(summary)[:4000], log=_clean(log_tail)[-30_000:],
        )  # fmt: skip

    def _why_not_fix(self, repository: str, installation: int | None, step: Task) -> str | None:
        """None when a follow-up may fix it now; else why not."""
        settings, config = self.core.settings, self.config_of(repository, installation)
        first = steps_before(self.core.queue, step)[0]
        if (who := stopped_by(self.core.notifications, first)) is not None:
            return f"the conversation was stopped by {who}"
        if not (config.fix_ci if config.fix_ci is not None else settings.fix_ci):
            return "fixing CI automatically is off (fix_ci in .dockhand.toml)"
        limit = config.fix_ci_attempts if config.fix_ci_attempts is not None else settings.fix_ci_attempts
        everything = all_steps(self.core.queue, first)
        attempts = sum(1 for task in everything if task.payload.get("ci") and task.triggered_by == AUTOMATIC)
        if attempts >= limit:
            return f"{attempts} automatic CI fixes on this pull request already (fix_ci_attempts = {limit})"
        spent = spending(everything)
        if spent.cost_usd >= settings.fix_ci_budget_usd:
            return f"this pull request's work has cost {spent.describe()} (limit ${settings.fix_ci_budget_usd:.2f})"
        return None

    def _report(self, step: Task, number: int, failure: CiFailure, why_not: str, installation: int | None) -> None:
        repository = step.repository or ""
        checks = ", ".join(failure.checks)
        text = (
            f"CI failed on {failure.head_sha[:12]}: {checks}.\n\n"
            f"I am not fixing it on my own: {why_not}. Comment `@{self.core.settings.bot_name} fix the failing "
            "checks` (or press Fix it in Slack) to have me try."
        )
        try:
            with github_client(self.client_for, installation) as client:
                client.comment(repository, number, text)
        except DockhandError as exc:
            log.warning("could not report the CI failure on %s#%s: %s", repository, number, exc)
        self.core.journal.note(
            step.id,
            EventKind.CI_FAILED,
            f"CI failed on {failure.head_sha[:12]}: {checks}",
            {"ci": failure.model_dump(mode="json"), "why_not": why_not, "pull_number": number},
        )


def _clean(text: str) -> str:
    """What CI wrote, as text a spec takes (no NUL characters)."""
    return text.replace("\x00", "")

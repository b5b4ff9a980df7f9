"""From stored GitHub deliveries to tasks: parse → authorise → submit, or one short refusal reply.

Runs off the request path (a scheduler job), so the webhook answers in milliseconds, and from the
store, so a delivery received before a crash is still processed after it. Each task's dedup key is the
delivery, so a delivery processed twice still makes one task.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from bot.github.authorise import WritePermission, may_trigger
from bot.github.ci_failures import CiFailures
from bot.github.client import GitHubClient
from bot.github.events import (
    HANDLED_EVENTS,
    STEERING,
    Asked,
    ChecksFailed,
    Command,
    Ignored,
    InstallationChanged,
    IssueOpened,
    Mention,
    PullRequestChanged,
    Pushed,
    Reviewed,
    StartsWork,
    TriggerRules,
    depends_on_repository_config,
    interpret,
)
from bot.github.feedback import review_feedback
from bot.github.intake_types import ClientFor, Handled, github_client
from bot.github.payloads import (
    EventPayload,
    IssueCommentEvent,
    IssuesEvent,
    PayloadError,
    PullRequestEvent,
    PushEvent,
    read_payload,
)
from bot.github.triggers import FIX_CI, task_trigger
from core.conversation import CONTINUED_TYPES, latest_step, leads_on
from core.errors import DockhandError, RateLimitedError, ValidationError
from core.intake.authorise import TRUSTED
from core.intake.chain import Admission, IntakeOutcome
from core.intake.trigger import Trigger
from core.models import Task, WebhookDelivery, utcnow
from core.repo_config import FILE_NAME as CONFIG_FILE
from core.repo_config import RepositoryConfig, parse_repository_config
from core.service import Core
from core.settings import Settings
from core.states import TaskStatus, TriggerSource
from core.store.audit import AuditAction
from core.store.queue_types import TaskFilter

log = logging.getLogger(__name__)


def rules_from(settings: Settings) -> TriggerRules:
    return TriggerRules(
        bot_name=settings.bot_name,
        trigger_label=settings.github_trigger_label,
        push_branches=tuple(settings.github_push_branches),
        reviews_enabled=settings.github_reviews,
        bot_logins=frozenset({settings.bot_name, f"{settings.bot_name}[bot]"}),
    )


CONFIG_TTL_SECONDS = 60.0
MAX_WAIT = timedelta(hours=6)  # a delivery waits for the work it is about at most this long


class GitHubIntake:
    def __init__(self, core: Core, client_for: ClientFor, rules: TriggerRules) -> None:
        self.core = core
        self.client_for = client_for
        self.rules = rules
        self._configs: dict[str, tuple[float, RepositoryConfig]] = {}
        self.ci = CiFailures(core, client_for, self.repository_config)

    def rules_for(self, event: EventPayload) -> TriggerRules:
        """The global rules, with the repository's `.dockhand.toml` (default branch) laid over them."""
        if not isinstance(event, IssuesEvent | IssueCommentEvent | PullRequestEvent | PushEvent):
            return self.rules
        if not depends_on_repository_config(event):
            return self.rules
        installation = event.installation.id if event.installation is not None else None
        return self.rules.for_repository(self.repository_config(event.repository.full_name, installation))

    def repository_config(self, repository: str, installation: int | None) -> RepositoryConfig:
        """The `[github]` table of the repository's `.dockhand.toml` on its default branch (never a branch a
        pull request or the agent could change), cached for a minute."""
        cached = self._configs.get(repository)
        if cached is not None and time.monotonic() - cached[0] < CONFIG_TTL_SECONDS:
            return cached[1]
        try:
            with github_client(self.client_for, installation) as client:
                text = client.file_text(repository, CONFIG_FILE)
            config = parse_repository_config(text) if text is not None else RepositoryConfig()
        except DockhandError as exc:
            log.warning("%s: %s unusable, using dockhand's settings: %s", repository, CONFIG_FILE, exc)
            config = RepositoryConfig()
        self._configs[repository] = (time.monotonic(), config)
        return config

    def process_pending(self, limit: int = 50) -> int:
        """Handle the deliveries nobody holds; a lease on each (renewed before it is handled) means a process
        that dies mid-batch has its deliveries taken over by another within seconds of the lease running out."""
        deliveries = self.core.deliveries.claim_pending("github", limit)
        count = 0
        for delivery in deliveries:
            if not self.core.deliveries.extend(delivery):
                continue  # our lease ran out and another intake has it now
            count += 1
            try:
                handled = self._process(delivery)
            except Exception as exc:  # one bad delivery must not stop the others
                log.exception("GitHub delivery %s could not be processed", delivery.delivery_id)
                handled = Handled(f"error: {type(exc).__name__}: {exc}")
            if handled.retry_in_seconds is not None and utcnow() - delivery.received_at < MAX_WAIT:
                self.core.deliveries.defer(delivery, handled.retry_in_seconds)
                continue
            self.core.deliveries.finish(delivery.id or 0, handled.outcome, handled.task_id)
        return count

    def _process(self, delivery: WebhookDelivery) -> Handled:
        if delivery.event not in HANDLED_EVENTS:
            return Handled(f"ignored: {delivery.event} events are not handled")
        try:
            event = read_payload(delivery.event, delivery.payload)
        except PayloadError as exc:
            return Handled(f"ignored: {exc}")
        try:
            interpreted = interpret(event, self.rules_for(event))
        except PayloadError as exc:
            return Handled(f"ignored: {exc}")
        if isinstance(interpreted, Ignored):
            return Handled(f"ignored: {interpreted.reason}")
        if isinstance(interpreted, InstallationChanged):
            return Handled(self._installation(interpreted))
        if isinstance(interpreted, ChecksFailed):
            return self.ci.failed(interpreted)
        return self._route(interpreted, delivery)

    def _route(self, event: StartsWork, delivery: WebhookDelivery) -> Handled:
        event = self._as_follow_up(event)
        if event.repo.installation_id is not None:
            # Later work on this repository (progress comments, pushes) needs to know its installation.
            self._installation(
                InstallationChanged(
                    installation_id=event.repo.installation_id,
                    account=event.repo.full_name.split("/")[0],
                    action="added",
                    added=(event.repo.full_name,),
                )
            )
        ref = (
            f"{event.repo.full_name}#{event.number}"
            if isinstance(event, IssueOpened | Mention | Asked | Reviewed)
            else ""
        )
        permission = WritePermission(event.actor, self._permission_of(event.repo.installation_id))
        if isinstance(event, Mention) and event.command in STEERING:
            return self._steer(event, ref, permission)
        continues, ci = None, None
        if isinstance(event, Asked | Reviewed):  # a follow-up: on the newest work dockhand did here (it waits)
            on_pull_request = isinstance(event, Reviewed) or event.on_pull_request
            earlier = self._earlier_work(event.repo.full_name, event.number, on_pull_request=on_pull_request)
            if earlier is None:
                return Handled(f"ignored: no work of {self.rules.bot_name} on {ref} to continue")
            continues = earlier.id
            if isinstance(event, Asked) and FIX_CI.search(event.request):
                ci = self.ci.reported_failure(earlier)
            if isinstance(event, Reviewed) and (quiet := self._asks_nothing(event)) is not None:
                return Handled(f"ignored: {quiet}")
        try:
            trigger = task_trigger(event, dedup_key=_dedup_key(event, delivery), continues=continues, ci=ci)
        except ValidationError as exc:
            target = ref or event.repo.full_name
            self.core.intake.refuse(
                source=TriggerSource.GITHUB,
                actor=event.actor.login,
                action=AuditAction.SUBMIT,
                target=target,
                reason=str(exc),
            )
            return Handled(f"not started: {exc}")
        assert trigger is not None
        # Pushing already needed write access; a pull request is reviewed whoever opened it.
        authoriser = TRUSTED if isinstance(event, Pushed | PullRequestChanged) else permission
        outcome = self.core.intake.handle(trigger, authoriser)
        return self._answer(event, trigger, outcome)

    def _answer(self, event: StartsWork, trigger: Trigger, outcome: IntakeOutcome) -> Handled:
        """The delivery's recorded outcome, and one reply on the issue or PR when there is news for its author."""
        task = outcome.task
        match outcome.admission:
            case Admission.STARTED | Admission.DUPLICATE:
                assert task is not None
                return Handled(f"task {task.id} ({trigger.task_type.value})", task_id=task.id)
            case Admission.ALREADY_LIVE:
                assert task is not None
                self._say_when(trigger.ref or "", self._already_on_it(task), event.repo.installation_id)
                return Handled(f"already on it: task {task.id}", task_id=task.id)
            case Admission.REFUSED:
                if isinstance(event, Mention | Asked | Reviewed) and not event.actor.is_bot:
                    self._reply_refused(event)
                return Handled(f"refused: {outcome.reason}")
            case Admission.RATE_LIMITED:
                assert isinstance(outcome.error, RateLimitedError)
                error = outcome.error
                text = f"Not started: {error}. Try again in {error.when()}."
                self._say_when(trigger.ref or "", text, event.repo.installation_id)
                return Handled(f"rate-limited: {error} (retry in {error.retry_after_seconds} s)")
        return Handled(f"not started: {outcome.reason}")

    def _asks_nothing(self, event: Reviewed) -> str | None:
        """Why a review starts no follow-up (None: it asks for a change). GitHub delivers every reply in a review
        thread as a review of its own: a reply ("thanks!") asks for something only when it mentions the bot."""
        bots = self.rules.bot_logins
        try:
            with github_client(self.client_for, event.repo.installation_id) as client:
                found = review_feedback(client, event.repo.full_name, event.number, event.review_id, bots=bots)
        except DockhandError as exc:  # the follow-up reads it again, and says what is wrong
            log.warning("could not read review %s of %s: %s", event.review_id, event.repo.full_name, exc)
            return None
        if found is None:
            return f"review {event.review_id} has nothing to address"
        mention = f"@{self.rules.bot_name}".lower()
        replies_only = not found.body.strip() and all(note.thread_id != note.comment_id for note in found.notes)
        if replies_only and not any(mention in note.body.lower() for note in found.notes):
            return f"review {event.review_id} only replies in threads (mention @{self.rules.bot_name} to ask)"
        return None

    def _as_follow_up(self, event: StartsWork) -> StartsWork:
        """`@dockhand fix the failing checks` on a pull request dockhand works on: words for that work, not a
        resolution of the pull request as if it were an issue."""
        if not (isinstance(event, Mention) and event.on_pull_request and event.argument):
            return event
        if event.command not in (Command.FIX, Command.RESOLVE):
            return event
        if self._earlier_work(event.repo.full_name, event.number, on_pull_request=True) is None:
            return event
        request = f"{event.command.value} {event.argument}"
        return Asked(repo=event.repo, number=event.number, on_pull_request=True, request=request,
                     comment_id=event.comment_id, actor=event.actor)  # fmt: skip

    def _earlier_work(self, repository: str, number: int, *, on_pull_request: bool) -> Task | None:
        """What a follow-up asked on an issue or pull request builds on: the newest step of the conversation
        started there (on a PR: the one that opened it), still working or with its commits on the PR."""
        asked_here = self.core.tasks(TaskFilter(types=CONTINUED_TYPES, trigger_ref=f"{repository}#{number}", limit=20))
        found = [task for task in asked_here if leads_on(task)]
        if on_pull_request and not found:
            opened = TaskFilter(
                types=CONTINUED_TYPES,
                repository=repository,
                statuses=(TaskStatus.SUCCEEDED,),
                result_equals={"pull_request.pull_number": number},
                limit=1,
            )
            found = self.core.tasks(opened)
        return latest_step(self.core.queue, found[0]) if found else None

    def _steer(self, mention: Mention, ref: str, permission: WritePermission) -> Handled:
        """`@dockhand cancel` / `approve` on an issue or PR: the tasks it started."""
        decision = may_trigger(mention.actor, mention.repo.full_name, permission.permission_of)
        if not decision.allowed:
            self.core.intake.refuse(
                source=TriggerSource.GITHUB,
                actor=mention.actor.login,
                action=AuditAction.TRIGGER,
                target=ref,
                reason=decision.reason,
            )
            if not mention.actor.is_bot:
                self._reply_refused(mention)
            return Handled(f"refused: {decision.reason}")
        if mention.command is Command.CANCEL:
            cancelled = self._cancel(ref, mention.actor.login)
            return Handled(f"cancelled {', '.join(cancelled)}" if cancelled else "cancel: nothing running")
        return self._approve(ref, mention.actor.login)

    def _reply_refused(self, mention: Mention | Asked | Reviewed) -> None:
        what = mention.command.value if isinstance(mention, Mention) else "continue its work"
        self._say_when(
            f"{mention.repo.full_name}#{mention.number}",
            f"Sorry @{mention.actor.login}, only people with write access to this repository "
            f"can ask {self.rules.bot_name} to {what}.",
            mention.repo.installation_id,
        )

    def _permission_of(self, installation_id: int | None) -> Callable[[str, str], str]:
        def permission_of(repository: str, login: str) -> str:
            with github_client(self.client_for, installation_id) as client:
                return client.permission(repository, login)

        return permission_of

    def _already_on_it(self, task: Task) -> str:
        """A second `@dockhand fix` while the first runs: a link to the first's progress comment."""
        from bot.github.progress import CHANNEL  # progress imports this module

        comment = self.core.notifications.get(task.id, CHANNEL)
        repository, _, number = (task.trigger_ref or "").partition("#")
        status = task.status.value.replace("_", " ")
        if comment and repository and number:
            link = (
                f"{self.core.settings.github_git_url.rstrip('/')}/{repository}/issues/{number}#issuecomment-{comment}"
            )
            return f"Already on it: task `{task.id}` is {status}, see {link}"
        return f"Already on it: task `{task.id}` is {status}."

    def _say_when(self, ref: str, text: str, installation_id: int | None) -> None:
        """One reply on the issue or PR a refused request came from (pushes have nowhere to reply), as the
        installation the event came through (or, for an event without one, the one known to cover it)."""
        repository, _, number = ref.partition("#")
        if not number.isdigit():
            return
        if installation_id is None:
            installation_id = installation_for(self.core, repository)
        try:
            with github_client(self.client_for, installation_id) as client:
                client.comment(repository, int(number), text)
        except DockhandError as exc:
            log.warning("could not reply on %s: %s", ref, exc)

    def _tasks_of(self, ref: str, *statuses: TaskStatus) -> list[str]:
        """The tasks an issue or PR started that are in one of these states."""
        found = self.core.tasks(TaskFilter(trigger_ref=ref, statuses=statuses, limit=100))
        return [task.id for task in found]

    def _approve(self, ref: str, who: str) -> Handled:
        approved = []
        for task_id in self._tasks_of(ref, TaskStatus.AWAITING_APPROVAL):
            try:
                self.core.approve(task_id, by=f"{who} (GitHub)", source=TriggerSource.GITHUB)
                approved.append(task_id)
            except DockhandError:
                continue
        if not approved:
            return Handled("approve: nothing is waiting for approval")
        return Handled(f"approved {', '.join(approved)}", task_id=approved[0])

    def _cancel(self, ref: str, who: str) -> list[str]:
        done = []
        for task_id in self._tasks_of(ref, TaskStatus.PENDING, TaskStatus.RUNNING, TaskStatus.AWAITING_APPROVAL):
            try:
                self.core.cancel(task_id, by=who, source=TriggerSource.GITHUB)
                done.append(task_id)
            except DockhandError:
                continue
        return done

    def _installation(self, change: InstallationChanged) -> str:
        added = change.added if change.action in ("created", "added") else ()
        self.core.installations.update(
            change.installation_id,
            account=change.account,
            active=change.action not in ("deleted", "suspend"),
            added=added,
            removed=change.removed,
        )
        return f"installation {change.installation_id} {change.action}"


def _dedup_key(event: StartsWork, delivery: WebhookDelivery) -> str:
    """The delivery (a redelivery is the same request); a review by its id (one follow-up per review)."""
    if isinstance(event, Reviewed):
        return f"github:review:{event.repo.full_name}:{event.review_id}"
    return f"github:{delivery.hook_id}:{delivery.delivery_id}"


def github_client_factory(settings: Settings) -> ClientFor:
    def client_for(installation_id: int | None) -> GitHubClient:
        return GitHubClient.from_settings(settings, installation_id=installation_id)

    return client_for


def attach_intake(core: Core, every_seconds: float = 1.0) -> GitHubIntake | None:
    """Process GitHub deliveries in this process's scheduler, when GitHub credentials are configured."""
    settings = core.settings
    if settings.github_token is None and settings.github_app_id is None:
        return None
    client_for = github_client_factory(settings)
    intake = GitHubIntake(core, client_for, rules_from(settings))
    core.every("github-intake", every_seconds, intake.process_pending)
    from bot.github.progress import attach_progress  # progress imports this module

    attach_progress(core, client_for)
    return intake


def installation_for(core: Core, repository: str) -> int | None:
    """The App installation that covers a repository, from the installations dockhand has seen."""
    return core.installations.covering(repository)

"""The `issue-resolution` task: an agent fixes a GitHub issue in a sandbox; a person approves the PR. The
`change` task is the same with a request in words (Slack, the CLI, the API) where the issue was.

issue (or request) → checkout → detect → install → baseline → agent (its change is tested; failures go back to it,
in bounded rounds) → commit (the change leaves the sandbox as a git bundle, scanned for secrets) →
approval (the task waits, holding no worker) → publish (the host pushes the branch and opens the PR).

The host does everything that needs a credential; the sandbox only ever sees the repository.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict

from core.agent.loop import Agent, AgentOutcome, AgentProgress, AgentStatus, ModelSettings
from core.agent.prompt import (
    change_message,
    failures_message,
    system_prompt,
    task_message,
)
from core.agent.tools import SandboxTools, Toolbox
from core.conversation import standing_step
from core.errors import ApprovalRequired, DockhandError, LeaseLostError, StageFailedError, TaskCancelledError
from core.forge import ChangeRequest, Forge, IssueThread, ReviewFeedback, branch_name
from core.model_provider import ClientFactory, model_client, sdk_error
from core.models import Task
from core.pipeline import Pipeline, Stage, StageContext
from core.pipelines import test_pipeline
from core.pipelines.change_stats import DIFF_NAME, agent_figures, numstat
from core.pipelines.feedback import answer_review, ci_message, read_review, review_message, review_record
from core.pipelines.follow_up import EarlierStep, earlier_step, earlier_work
from core.pipelines.install_leftovers import exclude_leftovers
from core.pipelines.repository_context import repository_context
from core.pipelines.reproduction import REPRODUCE_FIRST, ReproducingTools, changed_by_agent
from core.pipelines.resolution_texts import approval_summary, pull_request_body, request_title
from core.pipelines.self_review import self_review
from core.pipelines.test_pipeline import (
    TestRun,
    collect_results,
    detect_plans,
    execute_tests,
    open_sandbox,
    reset_projects,
    run_state,
    sandbox_provider,
)
from core.pipelines.test_results import describe_projects
from core.redaction import Redactor
from core.repo_config import FILE_NAME as CONFIG_FILE
from core.repo_config import RepositoryConfig, parse_dockhand_file, parse_repository_config
from core.sandboxing import ExecRequest
from core.secret_scan import scan_diff, scan_text
from core.specs import ChangeSpec, IssueResolutionSpec
from core.testrun.detect import WORKSPACE

BUNDLE_NAME = "change.bundle"
MAX_BUNDLE_BYTES = 100 * 1024 * 1024


class Resolution:
    """What the stages of one resolution share: the test pipeline's checkout, sandbox and projects (composed
    in: the same steps run the baseline and each round's tests), and the issue being resolved."""

    def __init__(self) -> None:
        self.tests = TestRun()
        self.issue: IssueThread | None = None
        self.base_branch = ""
        self.baseline = ""
        self.config = RepositoryConfig()
        self.continues: EarlierStep | None = None  # a follow-up: the step whose branch and PR it adds to
        self.review: ReviewFeedback | None = None  # a follow-up on a review: the comments it addresses
        self.reproducing: ReproducingTools | None = None  # the agent's tools when it reproduces first


def _state(ctx: StageContext) -> Resolution:
    return run_state(ctx, Resolution)


def _spec(ctx: StageContext) -> IssueResolutionSpec | ChangeSpec:
    assert isinstance(ctx.spec, IssueResolutionSpec | ChangeSpec)
    return ctx.spec


def _repository(ctx: StageContext) -> str:
    if not ctx.task.repository:
        raise StageFailedError(f"a {ctx.task.type.value} task needs a repository (owner/name)")
    return ctx.task.repository


class IssueResolution:
    """The pipeline's stages, bound to a code host and a way to reach the model."""

    def __init__(
        self,
        forge: Forge,
        *,
        client_factory: ClientFactory = model_client,
        earlier: Callable[[str], Task | None] = lambda task_id: None,
    ) -> None:
        """`earlier` finds the task a follow-up continues."""
        self.forge = forge
        self.client_factory = client_factory
        self.earlier = earlier

    # --- stages -------------------------------------------------------------------------------
    def issue(self, ctx: StageContext) -> None:
        run, repository = _state(ctx), _repository(ctx)
        spec = _spec(ctx)
        assert isinstance(spec, IssueResolutionSpec)
        number = spec.issue_number
        try:
            run.issue = self.forge.issue(repository, number)
        except DockhandError as exc:
            raise StageFailedError(f"cannot read issue {repository}#{number}: {exc}") from None
        ctx.result["issue"] = {
            "repository": repository,
            "number": number,
            "title": run.issue.title,
            "url": run.issue.url,
            "author": run.issue.author,
        }
        ctx.log.system(f"issue {repository}#{number}: {run.issue.title}")

    def request(self, ctx: StageContext) -> None:
        """A change asked for in words: the request stands where an issue's text would."""
        run, repository, spec = _state(ctx), _repository(ctx), _spec(ctx)
        assert isinstance(spec, ChangeSpec)
        who = ctx.task.triggered_by or ctx.task.trigger_source.value
        title = request_title(spec.request)
        run.issue = IssueThread(
            repository=repository, number=0, title=title, body=spec.request, author=who, url=spec.requested_in or ""
        )
        ctx.result["request"] = {
            "title": title,
            "by": who,
            "from": ctx.task.trigger_source.value,
            "in": spec.requested_in,
        }
        ctx.log.system(f"a change to {repository}, asked by {who} ({ctx.task.trigger_source.value}): {title}")
        if spec.continues is not None:
            standing = standing_step(self.earlier, spec.continues)
            run.continues = step = earlier_step(standing, spec.continues, repository)
            ctx.result["continues"] = {"task": step.task_id, "branch": step.branch, "pull_number": step.pull_number}
            ctx.log.system(f"continuing task {step.task_id}: {step.branch} ({step.pull_url})")
            if spec.review is not None:
                run.review = read_review(self.forge, repository, step.pull_number, spec.review.review_id)
                ctx.result["review"] = review_record(run.review)
                ctx.log.system(f"addressing review {run.review.review_id} by {run.review.author}")
            if spec.ci is not None:
                ctx.result["ci"] = {"head_sha": spec.ci.head_sha, "checks": spec.ci.checks, "url": spec.ci.url}
                ctx.log.system(f"fixing failed checks on {spec.ci.head_sha[:12]}: {', '.join(spec.ci.checks)}")

    def checkout(self, ctx: StageContext) -> None:
        run, repository = _state(ctx), _repository(ctx)
        try:
            run.base_branch = self.forge.default_branch(repository)
            ref = run.continues.branch if run.continues is not None else run.base_branch
            run.tests.tree = self.forge.checkout(repository, ref, run.tests.tmp / "tree")
            # What the repository allows (auto-approval, install commands…) is its default branch's word, never a
            # branch the agent wrote: a follow-up reads the default branch's `.dockhand.toml`.
            trusted = self.forge.default_branch_file(repository, CONFIG_FILE) if run.continues else None
            run.tests.config = parse_dockhand_file(trusted or "") if run.continues else None
            config_file = run.tests.tree.path / CONFIG_FILE
            if run.tests.config is not None:
                run.config = run.tests.config.github
            elif config_file.is_file() and not config_file.is_symlink():
                run.config = parse_repository_config(config_file.read_text(errors="replace"))
        except DockhandError as exc:
            raise StageFailedError(f"checkout of {repository} failed: {exc}") from None
        ctx.result.update(base_branch=run.base_branch, base_commit=run.tests.tree.commit)
        ctx.log.system(f"checked out {repository} at {run.tests.tree.commit[:12]} ({run.base_branch})")

    def detect(self, ctx: StageContext) -> None:
        run = _state(ctx)
        detect_plans(ctx, run.tests)
        for plan in run.tests.plans:
            ctx.log.system(f"found {plan.language.value} project at {plan.root}: {plan.framework}")
        if not run.tests.plans:
            ctx.log.system("no test projects found: the change cannot be checked by tests")
        open_sandbox(ctx, run.tests, "resolve")

    def baseline(self, ctx: StageContext) -> None:
        """The tests before any change (a bug's test may well fail here); a broken install stops the task."""
        run = _state(ctx)
        broken = [p for p in run.tests.projects if p["status"] == "install-failed"]
        if broken:
            raise StageFailedError(
                "cannot work on a repository whose dependencies do not install: "
                + "; ".join(p.get("error", "") for p in broken)
            )
        assert run.tests.box is not None
        exclude_leftovers(run.tests.box)
        if not run.tests.plans:
            run.baseline = "(no tests found)"
            return
        execute_tests(ctx, run.tests)
        overall = collect_results(ctx, run.tests, None, "baseline")
        run.baseline = f"{overall}\n{describe_projects(run.tests.projects)}"
        ctx.result["baseline"] = {"status": overall, "projects": [dict(p) for p in run.tests.projects]}
        ctx.log.system(f"baseline: {overall}")

    def agent(self, ctx: StageContext) -> None:
        run, settings = _state(ctx), ctx.settings
        assert run.tests.box is not None and run.tests.tree is not None and run.issue is not None
        client = self.client_factory(settings)
        budget = _spec(ctx).budget_usd or settings.agent_budget_usd
        model = ModelSettings.from_settings(settings, budget)

        def progress(update: AgentProgress) -> None:
            figures = agent_figures(update.turns, update.usage.as_dict(), update.cost_usd, budget)
            ctx.metrics["agent"] = figures
            limit = f" of ${budget:.2f}" if budget is not None else ""
            ctx.progress(f"agent turn {update.turns}: ${update.cost_usd:.4f}{limit} spent", {"agent": figures})

        tools: Toolbox = SandboxTools(run.tests.box, cancelled=lambda: ctx.cancel.cancelled)
        # Reproduce first (a follow-up builds on work whose problem was shown already).
        if settings.agent_reproduce_first and run.continues is None:
            tools = run.reproducing = ReproducingTools(tools, run.tests.box, cancelled=lambda: ctx.cancel.cancelled)
            run.reproducing.begin()
        agent = Agent(
            client,
            model,
            tools,
            system=system_prompt(settings.bot_name),
            log=lambda line: ctx.log.agent(line),
            cancel=ctx.cancel,
            on_progress=progress,
        )
        try:
            context = repository_context(run.tests, run.baseline)
            if isinstance(spec := _spec(ctx), ChangeSpec):
                thread = [(message.author, message.text) for message in spec.thread]
                opening = change_message(run.issue.repository, run.issue.body, run.issue.author, context, thread)
                if run.continues is not None:
                    so_far = sandbox_provider(ctx).diff(run.tests.tree, run.base_branch, context=3)
                    opening += earlier_work(run.continues, so_far)
                opening += review_message(run.review) if run.review is not None else ""
                opening += ci_message(spec.ci) if spec.ci is not None else ""
            else:
                opening = task_message(run.issue, context)

            def verified(outcome: AgentOutcome) -> AgentOutcome:
                """Each submission checked; failures go back to the agent, in bounded rounds."""
                for rounds in range(1, settings.agent_test_rounds + 1):
                    if outcome.status is not AgentStatus.SUBMITTED:
                        return outcome
                    passed, summary = self._verify(ctx, run, rounds)
                    if passed:
                        return outcome
                    if rounds < settings.agent_test_rounds:
                        outcome = agent.resume(failures_message(rounds, settings.agent_test_rounds, summary))
                detail = f"the tests still fail after {settings.agent_test_rounds} rounds:\n{summary}"
                return AgentOutcome(status=AgentStatus.GAVE_UP, detail=detail)

            outcome = verified(agent.start(opening + (REPRODUCE_FIRST if run.reproducing is not None else "")))
            if outcome.status is AgentStatus.SUBMITTED and settings.agent_self_review:
                title = outcome.submission.title if outcome.submission else ""
                base = run.tests.tree.commit
                again = self_review(ctx, client, run.tests.box, base, agent=agent, title=title, budget=budget,
                                    verified=verified, recheck=lambda: self._verify(ctx, run, 0)[0])  # fmt: skip
                outcome = again or outcome
        except (TaskCancelledError, LeaseLostError):
            raise
        except (DockhandError, sdk_error()) as exc:
            # Not retried: another attempt would start the agent (and its spending) over.
            raise StageFailedError(f"the agent stopped: {type(exc).__name__}: {exc}") from None
        finally:
            client.close()
            if run.reproducing is not None and run.reproducing.reproduction is not None:
                ctx.result["reproduction"] = run.reproducing.reproduction.as_result()
            cost = agent.cost_usd + float((ctx.result.get("self_review") or {}).get("cost_usd") or 0.0)
            ctx.result["agent"] = {
                **agent_figures(agent.turns, agent.usage.as_dict(), cost, budget),
                "turn_usage": [u.as_dict() for u in agent.turn_usage],
            }
            ctx.metrics["agent"] = agent_figures(agent.turns, agent.usage.as_dict(), cost, budget)
        ctx.result["agent"]["status"] = outcome.status.value
        if outcome.status is not AgentStatus.SUBMITTED or outcome.submission is None:
            raise StageFailedError(f"the agent did not produce a change: {outcome.status.value}: {outcome.detail}")
        submitted = outcome.submission
        ctx.result["pull_request_draft"] = {"title": submitted.title, "body": submitted.body}
        if run.review is not None:  # the agent's word on each comment it was given (others are not posted)
            asked = {note.comment_id for note in run.review.notes}
            replies = {str(k): v for k, v in submitted.replies.items() if k in asked}
            ctx.result["pull_request_draft"]["replies"] = replies

    def commit(self, ctx: StageContext) -> None:
        """Commit in the sandbox, then rebuild the change on the host: one commit of the end state, with
        dockhand's identity, its diff made by the host's git — scanned for secrets before anyone sees it."""
        run = _state(ctx)
        assert run.tests.box is not None and run.tests.tree is not None
        draft = ctx.result["pull_request_draft"]
        base = run.tests.tree.commit
        script = (
            "git add -A && (git diff --cached --quiet || git -c user.name=agent -c user.email=agent@sandbox "
            "commit --quiet --no-verify -m change) && "
            f'rm -f .git/{BUNDLE_NAME} && (test "$(git rev-parse HEAD)" = {base} || '
            f"git bundle create --quiet .git/{BUNDLE_NAME} HEAD ^{base})"
        )
        result = run.tests.box.exec(ExecRequest(command=script, timeout_seconds=300))
        if not result.ok:
            raise StageFailedError(f"could not commit the change: {result.stderr.strip()[-1000:]}")
        try:
            bundle = run.tests.box.read_file(f"{WORKSPACE}/.git/{BUNDLE_NAME}", max_bytes=MAX_BUNDLE_BYTES)
        except DockhandError as exc:
            if "no such file" in str(exc):
                raise StageFailedError("the agent submitted no change to the repository") from None
            raise StageFailedError(f"could not take the change out of the sandbox: {exc}") from None
        try:
            change = sandbox_provider(ctx).squash_change(
                run.tests.tree, bundle, message=draft["title"], author=(ctx.settings.bot_name, "dockhand@localhost")
            )
        except DockhandError as exc:
            raise StageFailedError(f"the sandbox's change was refused: {exc}") from None
        if not change.diff.strip():
            raise StageFailedError("the agent's commits add up to no change")
        known = Redactor.from_settings(ctx.settings).known
        findings = [str(f) for f in scan_diff(change.diff, known)]
        texts = "\n".join([draft["title"], draft["body"], *draft.get("replies", {}).values()])
        findings += [f"pull request text: {kind}" for kind in scan_text(texts, known)]
        if findings:
            raise StageFailedError(
                "the change contains what looks like a secret; nothing was published: " + "; ".join(findings[:10])
            )
        stats = numstat(change.numstat)
        folder = ctx.settings.artifacts_dir / ctx.task.id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / BUNDLE_NAME).write_bytes(change.bundle)
        (folder / DIFF_NAME).write_text(change.diff)
        stats.update(
            commit=change.commit,
            bundle_sha256=hashlib.sha256(change.bundle).hexdigest(),
            touches_workflows=any(f["path"].startswith(".github/workflows/") for f in stats["changed"]),
        )
        ctx.result["change"] = stats
        ctx.log.system(
            f"change {change.commit[:12]}: {stats['files']} files, +{stats['insertions']} -{stats['deletions']}: "
            + ", ".join(f["path"] for f in stats["changed"][:10])
        )

    def approval(self, ctx: StageContext) -> None:
        """Stop here until a person approves the push (unless the repository opted into auto-approval)."""
        summary = approval_summary(ctx.result)
        run = _state(ctx)
        auto = _repository(ctx) in ctx.settings.auto_approve_repositories or bool(run.config.auto_approve)
        if auto and ctx.result["change"].get("touches_workflows"):
            ctx.log.system("the change touches .github/workflows: asking a person even though auto-approval is on")
        elif auto:
            where = "DOCKHAND_AUTO_APPROVE_REPOSITORIES" if not run.config.auto_approve else ".dockhand.toml"
            ctx.result["approval"] = {"by": f"auto-approval ({where})"}
            ctx.log.system(f"approved automatically: this repository publishes without asking ({where})")
            return
        raise ApprovalRequired(summary, expires_in_seconds=ctx.settings.approval_timeout_seconds)

    def publish(self, ctx: StageContext) -> None:
        repository = _repository(ctx)
        bundle_path = ctx.settings.artifacts_dir / ctx.task.id / BUNDLE_NAME
        if not bundle_path.is_file():
            raise StageFailedError("the approved change is no longer on this host (its bundle is missing)")
        bundle = bundle_path.read_bytes()
        change = ctx.result["change"]
        if hashlib.sha256(bundle).hexdigest() != change.get("bundle_sha256"):
            raise StageFailedError("the stored change is not the one that was approved; nothing was published")
        draft = ctx.result["pull_request_draft"]
        if "continues" in ctx.result:  # a follow-up: new commits on the earlier step's branch, its PR
            branch = ctx.result["continues"]["branch"]
        elif "request" in ctx.result:  # a change asked for in words: the task names its branch
            branch = branch_name("change", ctx.task.id, ctx.result["request"]["title"])
        else:
            issue = ctx.result["issue"]
            branch = branch_name("issue", issue["number"], issue["title"])
        body = pull_request_body(ctx.result, ctx.task.id)
        try:
            published = self.forge.publish(
                ChangeRequest(
                    repository=repository,
                    bundle=bundle,
                    branch=branch,
                    base=ctx.result["base_branch"],
                    title=draft["title"],
                    body=body,
                )
            )
        except DockhandError as exc:
            raise StageFailedError(f"publishing failed: {exc}") from None
        if published.commit != change["commit"]:
            raise StageFailedError(f"pushed {published.commit[:12]}, but {change['commit'][:12]} was approved")
        ctx.result["pull_request"] = asdict(published)
        ctx.log.system(f"pushed {published.branch} and opened {published.pull_url}")
        if "review" in ctx.result:  # each addressed comment is answered in its own thread
            answer_review(self.forge, ctx.result, repository, published, log=ctx.log.system)

    def cleanup(self, ctx: StageContext) -> None:
        test_pipeline.cleanup(ctx)

    # --- helpers ------------------------------------------------------------------------------
    def _verify(self, ctx: StageContext, run: Resolution, round_number: int) -> tuple[bool, str]:
        """The agent's change checked: its reproduction must pass now, then the project's tests (with the coverage
        of the lines it changed)."""
        if run.reproducing is not None:
            reproduced, why = run.reproducing.check_after()
            ctx.log.system(
                f"reproduction after the change (round {round_number}): {'passes' if reproduced else 'fails'}"
            )
            if not reproduced:
                return False, why
        if not run.tests.plans:
            return True, "no tests"
        reset_projects(run.tests)
        execute_tests(ctx, run.tests)
        overall = collect_results(ctx, run.tests, changed_by_agent(run.tests), f"round-{round_number}")
        summary = describe_projects(run.tests.projects)
        ctx.result["tests"] = {
            "status": overall,
            "round": round_number,
            "projects": [dict(p) for p in run.tests.projects],
        }
        ctx.log.system(f"tests after the agent's change (round {round_number}): {overall}")
        return overall == "passed", summary

    def pipeline(self) -> Pipeline:
        stages = (Stage("issue", self.issue), *self._after_the_task())
        return Pipeline(name="issue-resolution", stages=stages, finally_stage=Stage("cleanup", self.cleanup))

    def change_pipeline(self) -> Pipeline:
        """A change asked for in words: the same stages, with the request where the issue was."""
        stages = (Stage("request", self.request), *self._after_the_task())
        return Pipeline(name="change", stages=stages, finally_stage=Stage("cleanup", self.cleanup))

    def _after_the_task(self) -> tuple[Stage, ...]:
        return (
            Stage("checkout", self.checkout),
            Stage("detect", self.detect),
            Stage("install", test_pipeline.install),
            Stage("baseline", self.baseline),
            Stage("agent", self.agent),
            Stage("commit", self.commit),
            Stage("approval", self.approval),
            Stage("publish", self.publish, irreversible=True),
        )

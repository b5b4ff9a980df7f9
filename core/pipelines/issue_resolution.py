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

from core.artifacts import BUNDLE_NAME
from core.conversation import standing_step
from core.errors import ApprovalRequired, DockhandError, StageFailedError
from core.forge import ChangeRequest, Forge, IssueThread, branch_name
from core.model_provider import ClientFactory, model_client
from core.models import Task
from core.pipeline import Pipeline, Stage, StageContext, artifact_store
from core.pipelines import test_pipeline
from core.pipelines.attempts import adopt, attempts_asked, run_attempts
from core.pipelines.change_taking import take_change
from core.pipelines.feedback import answer_review, read_review, review_record
from core.pipelines.follow_up import earlier_step
from core.pipelines.install_leftovers import exclude_leftovers
from core.pipelines.resolution_agent import Resolution, accept, work
from core.pipelines.resolution_texts import approval_summary, pull_request_body, request_title
from core.pipelines.test_pipeline import collect_results, detect_plans, execute_tests, open_sandbox, run_state
from core.pipelines.test_results import describe_projects
from core.repo_config import FILE_NAME as CONFIG_FILE
from core.repo_config import parse_dockhand_file, parse_repository_config
from core.specs import ChangeSpec, IssueResolutionSpec


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
        run = _state(ctx)
        count = attempts_asked(ctx, run)
        if count > 1:
            run_attempts(ctx, run, self.client_factory, count)
            return
        client = self.client_factory(ctx.settings)
        try:
            outcome = work(ctx, run, client, budget=_spec(ctx).budget_usd or ctx.settings.agent_budget_usd)
        finally:
            client.close()
        accept(ctx, run, outcome)

    def commit(self, ctx: StageContext) -> None:
        """The change out of the sandbox, checked on the host (several attempts took theirs as they ended)."""
        run = _state(ctx)
        if "attempts" in ctx.result:
            ctx.log.system(f"attempt {ctx.result['picked']['attempt']}'s change was taken when it ended")
        else:
            ctx.result["change"] = take_change(ctx, run.tests, ctx.result["pull_request_draft"])
        stats = ctx.result["change"]
        ctx.log.system(
            f"change {stats['commit'][:12]}: {stats['files']} files, +{stats['insertions']} -{stats['deletions']}: "
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
        approval, picked = ctx.result.get("approval") or {}, ctx.result.get("picked") or {}
        if approval.get("attempt") and approval["attempt"] != picked.get("attempt"):  # a person picked another
            adopt(ctx, approval["attempt"], by=approval.get("by") or "someone")
            ctx.log.system(f"publishing attempt {approval['attempt']}, as {approval.get('by')} picked")
        bundle = artifact_store(ctx).get(ctx.task.id, BUNDLE_NAME)
        if bundle is None:
            raise StageFailedError("the approved change is no longer stored (its bundle was removed)")
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

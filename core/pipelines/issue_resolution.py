"""The `issue-resolution` task: an agent fixes a GitHub issue in a sandbox; a person approves the PR.

issue → checkout → detect → install → baseline → agent (its change is tested; failures go back to it,
in bounded rounds) → commit (the change leaves the sandbox as a git bundle, scanned for secrets) →
approval (the task waits, holding no worker) → publish (the host pushes the branch and opens the PR).

The host does everything that needs a credential; the sandbox only ever sees the repository.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import anthropic

from core.agent.loop import Agent, AgentOutcome, AgentProgress, AgentStatus, ModelSettings
from core.agent.prompt import INSTRUCTION_FILES, RepositoryContext, failures_message, system_prompt, task_message
from core.agent.tools import SandboxTools
from core.agent.usage import Limits, Pricing
from core.errors import ApprovalRequired, DockhandError, StageFailedError
from core.forge import ChangeRequest, Forge, IssueThread
from core.pipeline import Pipeline, Stage, StageContext
from core.pipelines import test_pipeline
from core.pipelines.test_pipeline import (
    TestRun,
    collect_results,
    describe_projects,
    execute_tests,
    open_sandbox,
    reset_projects,
    run_state,
)
from core.repo_config import FILE_NAME as CONFIG_FILE
from core.repo_config import RepositoryConfig, parse_repository_config
from core.sandboxing import ExecRequest
from core.secret_scan import scan_diff
from core.settings import Settings
from core.specs import IssueResolutionSpec
from core.testrun.detect import WORKSPACE, detect

BUNDLE_NAME = "change.bundle"
MAX_BUNDLE_BYTES = 100 * 1024 * 1024
# Never part of a change: dependencies, caches and reports the install and test runs leave behind.
EXCLUDED = (
    ".venv/",
    "node_modules/",
    "target/",
    "__pycache__/",
    ".pytest_cache/",
    ".coverage",
    "*.pyc",
    ".nyc_output/",
)

ClientFactory = Callable[[Settings], anthropic.Anthropic]


def anthropic_client(settings: Settings) -> anthropic.Anthropic:
    if settings.anthropic_api_key is None:
        raise StageFailedError("ANTHROPIC_API_KEY is not set: the agent has no model to work with")
    return anthropic.Anthropic(
        api_key=settings.anthropic_api_key.get_secret_value(),
        base_url=settings.anthropic_base_url,
        max_retries=settings.anthropic_max_retries,
        timeout=600.0,
    )


class Resolution(TestRun):
    """What the stages of one resolution share."""

    def __init__(self) -> None:
        super().__init__()
        self.issue: IssueThread | None = None
        self.base_branch = ""
        self.baseline = ""
        self.config = RepositoryConfig()


def _state(ctx: StageContext) -> Resolution:
    return run_state(ctx, Resolution)


def _spec(ctx: StageContext) -> IssueResolutionSpec:
    assert isinstance(ctx.spec, IssueResolutionSpec)
    return ctx.spec


def _repository(ctx: StageContext) -> str:
    if not ctx.task.repository:
        raise StageFailedError("an issue-resolution task needs a repository (owner/name)")
    return ctx.task.repository


class IssueResolution:
    """The pipeline's stages, bound to a code host and a way to reach the model."""

    def __init__(
        self,
        forge: Forge,
        *,
        client_factory: ClientFactory = anthropic_client,
    ) -> None:
        self.forge = forge
        self.client_factory = client_factory

    # --- stages -------------------------------------------------------------------------------
    def issue(self, ctx: StageContext) -> None:
        run, repository = _state(ctx), _repository(ctx)
        number = _spec(ctx).issue_number
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

    def checkout(self, ctx: StageContext) -> None:
        run, repository = _state(ctx), _repository(ctx)
        try:
            run.base_branch = self.forge.default_branch(repository)
            run.tree = self.forge.checkout(repository, run.base_branch, run.tmp / "tree")
        except DockhandError as exc:
            raise StageFailedError(f"checkout of {repository} failed: {exc}") from None
        ctx.result.update(base_branch=run.base_branch, base_commit=run.tree.commit)
        config_file = run.tree.path / CONFIG_FILE
        if config_file.is_file() and not config_file.is_symlink():
            try:
                run.config = parse_repository_config(config_file.read_text(errors="replace"))
            except DockhandError as exc:
                raise StageFailedError(str(exc)) from None
        ctx.log.system(f"checked out {repository} at {run.tree.commit[:12]} ({run.base_branch})")

    def detect(self, ctx: StageContext) -> None:
        run = _state(ctx)
        assert run.tree is not None
        settings = ctx.settings
        allowed = frozenset(filter(None, [settings.sandbox_image, *settings.sandbox_images.values()]))
        try:
            run.plans = detect(run.tree.path, allowed_images=allowed)
        except DockhandError as exc:
            raise StageFailedError(str(exc)) from None
        for plan in run.plans:
            ctx.log.system(f"found {plan.language.value} project at {plan.root}: {plan.framework}")
        if not run.plans:
            ctx.log.system("no test projects found: the change cannot be checked by tests")
        open_sandbox(ctx, run, f"resolve-{ctx.task.id}")

    def baseline(self, ctx: StageContext) -> None:
        """The tests before any change (a bug's test may well fail here); a broken install stops the task."""
        run = _state(ctx)
        broken = [p for p in run.projects if p["status"] == "install-failed"]
        if broken:
            raise StageFailedError(
                "cannot work on a repository whose dependencies do not install: "
                + "; ".join(p.get("error", "") for p in broken)
            )
        if not run.plans:
            run.baseline = "(no tests found)"
            return
        execute_tests(ctx, run)
        overall = collect_results(ctx, run, None, "baseline")
        run.baseline = f"{overall}\n{describe_projects(run.projects)}"
        ctx.result["baseline"] = {"status": overall, "projects": [dict(p) for p in run.projects]}
        ctx.log.system(f"baseline: {overall}")

    def agent(self, ctx: StageContext) -> None:
        run, settings = _state(ctx), ctx.settings
        assert run.box is not None and run.issue is not None
        client = self.client_factory(settings)
        budget = _spec(ctx).budget_usd or settings.agent_budget_usd
        model = ModelSettings(
            model=settings.agent_model,
            limits=Limits(
                max_turns=settings.agent_max_turns,
                max_seconds=settings.agent_max_seconds,
                max_tokens=settings.agent_max_tokens,
                budget_usd=budget,
            ),
            pricing=Pricing(
                input=settings.agent_price_input,
                output=settings.agent_price_output,
                cache_write=settings.agent_price_cache_write,
                cache_read=settings.agent_price_cache_read,
            ),
            caching=settings.agent_prompt_caching,
            streaming=settings.agent_streaming,
        )

        def progress(update: AgentProgress) -> None:
            figures = _agent_figures(update.turns, update.usage.as_dict(), update.cost_usd, budget)
            ctx.metrics["agent"] = figures
            limit = f" of ${budget:.2f}" if budget is not None else ""
            ctx.progress(f"agent turn {update.turns}: ${update.cost_usd:.4f}{limit} spent", {"agent": figures})

        agent = Agent(
            client,
            model,
            SandboxTools(run.box, cancelled=lambda: ctx.cancel.cancelled),
            system=system_prompt(settings.bot_name),
            log=lambda line: ctx.log.agent(line),
            cancel=ctx.cancel,
            on_progress=progress,
        )
        try:
            outcome = agent.start(task_message(run.issue, self._context(ctx, run)))
            rounds = 0
            while outcome.status is AgentStatus.SUBMITTED:
                rounds += 1
                passed, summary = self._verify(ctx, run, rounds)
                if passed:
                    break
                if rounds >= settings.agent_test_rounds:
                    outcome = AgentOutcome(
                        status=AgentStatus.GAVE_UP,
                        detail=f"the tests still fail after {rounds} rounds:\n{summary}",
                    )
                    break
                outcome = agent.resume(failures_message(rounds, settings.agent_test_rounds, summary))
        finally:
            client.close()
            ctx.result["agent"] = {
                **_agent_figures(agent.turns, agent.usage.as_dict(), agent.cost_usd, budget),
                "turn_usage": [u.as_dict() for u in agent.turn_usage],
            }
            ctx.metrics["agent"] = _agent_figures(agent.turns, agent.usage.as_dict(), agent.cost_usd, budget)
        ctx.result["agent"]["status"] = outcome.status.value
        if outcome.status is not AgentStatus.SUBMITTED or outcome.submission is None:
            raise StageFailedError(f"the agent did not produce a change: {outcome.status.value}: {outcome.detail}")
        ctx.result["pull_request_draft"] = {"title": outcome.submission.title, "body": outcome.submission.body}

    def commit(self, ctx: StageContext) -> None:
        """Commit the change in the sandbox; take it out as a bundle (for the push) and a diff (for people)."""
        run = _state(ctx)
        assert run.box is not None and run.tree is not None
        draft = ctx.result["pull_request_draft"]
        base = run.tree.commit
        excludes = "\n".join(EXCLUDED)
        script = (
            f"printf '%s\\n' {shlex.quote(excludes)} >> .git/info/exclude && git add -A && "
            f"(git diff --cached --quiet || git -c user.name={shlex.quote(ctx.settings.bot_name)} "
            f"-c user.email=dockhand@localhost commit --quiet --no-verify -m {shlex.quote(draft['title'])}) && "
            f"git diff --numstat {base} HEAD > .git/dockhand-numstat && "
            f"git diff {base} HEAD > .git/dockhand-change.diff && "
            f"(test $(git rev-parse HEAD) = {base} || git bundle create --quiet .git/{BUNDLE_NAME} {base}..HEAD)"
        )
        result = run.box.exec(ExecRequest(command=script, timeout_seconds=300))
        if not result.ok:
            raise StageFailedError(f"could not commit the change: {result.stderr.strip()[-1000:]}")
        diff = run.box.read_file(f"{WORKSPACE}/.git/dockhand-change.diff").decode(errors="replace")
        if not diff.strip():
            raise StageFailedError("the agent submitted no change to the repository")
        findings = scan_diff(diff, _known_secrets(ctx.settings))
        if findings:
            raise StageFailedError(
                "the change contains what looks like a secret; nothing was published: "
                + "; ".join(str(f) for f in findings[:10])
            )
        stats = _numstat(run.box.read_file(f"{WORKSPACE}/.git/dockhand-numstat").decode(errors="replace"))
        folder = ctx.settings.artifacts_dir / ctx.task.id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / BUNDLE_NAME).write_bytes(
            run.box.read_file(f"{WORKSPACE}/.git/{BUNDLE_NAME}", max_bytes=MAX_BUNDLE_BYTES)
        )
        (folder / "change.diff").write_text(diff)
        ctx.result["change"] = stats
        ctx.log.system(
            f"change: {stats['files']} files, +{stats['insertions']} -{stats['deletions']}: "
            + ", ".join(f["path"] for f in stats["changed"][:10])
        )

    def approval(self, ctx: StageContext) -> None:
        """Stop here until a person approves the push (unless the repository opted into auto-approval)."""
        summary = approval_summary(ctx.result)
        run = _state(ctx)
        if _repository(ctx) in ctx.settings.auto_approve_repositories or run.config.auto_approve:
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
        draft = ctx.result["pull_request_draft"]
        issue = ctx.result["issue"]
        branch = _branch_name(issue["number"], issue["title"])
        body = pull_request_body(ctx.result, ctx.task.id)
        try:
            published = self.forge.publish(
                ChangeRequest(
                    repository=repository,
                    bundle=bundle_path.read_bytes(),
                    branch=branch,
                    base=ctx.result["base_branch"],
                    title=draft["title"],
                    body=body,
                )
            )
        except DockhandError as exc:
            raise StageFailedError(f"publishing failed: {exc}") from None
        ctx.result["pull_request"] = asdict(published)
        ctx.log.system(f"pushed {published.branch} and opened {published.pull_url}")

    def cleanup(self, ctx: StageContext) -> None:
        test_pipeline.cleanup(ctx)

    # --- helpers ------------------------------------------------------------------------------
    def _context(self, ctx: StageContext, run: Resolution) -> RepositoryContext:
        assert run.tree is not None and run.box is not None
        listing = run.box.exec(
            ExecRequest(
                command="find . -maxdepth 2 -not -path './.git*' -not -path '*/node_modules*' "
                "-not -path '*/.venv*' | sort | head -300",
                timeout_seconds=60,
            )
        )
        instructions = {}
        for name in INSTRUCTION_FILES:
            path = run.tree.path / name
            if path.is_file() and not path.is_symlink():
                instructions[name] = path.read_text(errors="replace")
        return RepositoryContext(
            layout=listing.stdout,
            projects=tuple(f"{p.language.value} at {p.root} ({p.framework})" for p in run.plans),
            test_commands=tuple(f"cd {p.workdir} && {p.test}" for p in run.plans),
            baseline=run.baseline,
            instructions=instructions,
        )

    def _verify(self, ctx: StageContext, run: Resolution, round_number: int) -> tuple[bool, str]:
        if not run.plans:
            return True, "no tests"
        reset_projects(run)
        execute_tests(ctx, run)
        overall = collect_results(ctx, run, None, f"round-{round_number}")
        summary = describe_projects(run.projects)
        ctx.result["tests"] = {"status": overall, "round": round_number, "projects": [dict(p) for p in run.projects]}
        ctx.log.system(f"tests after the agent's change (round {round_number}): {overall}")
        return overall == "passed", summary

    def pipeline(self) -> Pipeline:
        return Pipeline(
            name="issue-resolution",
            stages=(
                Stage("issue", self.issue),
                Stage("checkout", self.checkout),
                Stage("detect", self.detect),
                Stage("install", test_pipeline.install),
                Stage("baseline", self.baseline),
                Stage("agent", self.agent),
                Stage("commit", self.commit),
                Stage("approval", self.approval),
                Stage("publish", self.publish),
            ),
            finally_stage=Stage("cleanup", self.cleanup),
        )


# --- texts ----------------------------------------------------------------------------------------
def approval_summary(result: dict[str, Any]) -> str:
    change = result.get("change") or {}
    tests = result.get("tests") or {}
    agent = result.get("agent") or {}
    draft = result.get("pull_request_draft") or {}
    lines = [
        f"PR: {draft.get('title', '')}",
        f"change: {change.get('files', 0)} files, +{change.get('insertions', 0)} -{change.get('deletions', 0)}",
        f"tests: {tests.get('status', 'not run')}",
        f"agent: {agent.get('turns', 0)} turns, ${agent.get('cost_usd', 0):.4f}",
    ]
    lines += [f"  {f['path']} (+{f['insertions']} -{f['deletions']})" for f in change.get("changed", [])[:20]]
    return "\n".join(lines)


def pull_request_body(result: dict[str, Any], task_id: str) -> str:
    issue = result["issue"]
    draft = result["pull_request_draft"]
    tests = result.get("tests") or {}
    agent = result.get("agent") or {}
    approval = result.get("approval") or {}
    lines = [draft["body"].strip(), "", f"Fixes #{issue['number']}", "", "---", "**Tests**"]
    for project in tests.get("projects") or []:
        totals = project.get("totals") or {}
        lines.append(
            f"- {project['language']} `{project['root']}` ({project['framework']}): {project['status']}, "
            f"{totals.get('passed', 0)} passed, {totals.get('failed', 0)} failed"
        )
    if not tests.get("projects"):
        lines.append("- no tests were found to run")
    lines += [
        "",
        f"Made by dockhand task `{task_id}`: {agent.get('turns', 0)} agent turns, "
        f"~${agent.get('cost_usd', 0):.2f}" + (f"; approved by {approval['by']}" if approval.get("by") else "") + ".",
    ]
    return "\n".join(lines)


def _agent_figures(turns: int, usage: dict[str, int], cost: float, budget: float | None) -> dict[str, Any]:
    return {"turns": turns, "usage": usage, "cost_usd": round(cost, 6), "budget_usd": budget}


def _numstat(text: str) -> dict[str, Any]:
    changed = []
    for line in text.splitlines():
        parts = line.split("\t", 2)
        if len(parts) != 3:
            continue
        added, removed, path = parts
        changed.append(
            {
                "path": path,
                "insertions": int(added) if added.isdigit() else 0,
                "deletions": int(removed) if removed.isdigit() else 0,
                "binary": added == "-",
            }
        )
    return {
        "files": len(changed),
        "insertions": sum(c["insertions"] for c in changed),
        "deletions": sum(c["deletions"] for c in changed),
        "changed": changed,
    }


def _known_secrets(settings: Settings) -> list[str]:
    values = []
    for name in ("github_token", "github_webhook_secret", "anthropic_api_key", "slack_bot_token", "slack_app_token"):
        secret = getattr(settings, name)
        if secret is not None:
            values.append(secret.get_secret_value())
    if settings.slack_signing_secret is not None:
        values.append(settings.slack_signing_secret.get_secret_value())
    if settings.api_token is not None:
        values.append(settings.api_token.get_secret_value())
    return values


def _branch_name(number: int, title: str) -> str:
    from sandbox.git import branch_name  # the one definition of dockhand's branch names

    return branch_name("issue", number, title)

"""The `test-pipeline` task: checkout → detect → install → test → report, in one sandbox.

Install runs with network (through the dependency cache: a hit skips it); tests run without. Each
project's results and coverage are parsed from the tools' own report files, kept as artifacts, and
stored with the task. A failing install, no tests, a hanging run, or a missing or broken report each
end in a clear per-project status, never a crash.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from core.artifacts import put_folder
from core.errors import DockhandError, StageFailedError
from core.pipeline import Pipeline, Stage, StageContext, artifact_store
from core.pipelines import snapshot_use
from core.pipelines.test_results import describe_timings, last_lines, overall_status, report_project, timings
from core.repo_config import DockhandFile
from core.sandboxing import ExecRequest, LiveSandboxLike, SandboxProvider, SourceTree, cache_key, size_in_bytes
from core.specs import TestPipelineSpec
from core.states import LogStream, TriggerSource
from core.testrun.coverage import changed_lines
from core.testrun.detect import Language, ProjectPlan, detect, dockhand_file
from core.testrun.python import TOOLS as PYTHON_TOOLS

INSTALL_TIMEOUT = 1200.0
TOOLS_SOURCE = Path(__file__).resolve().parent.parent / "testrun" / "tools"


class TestRun:
    """State shared by the stages of one test run: the checkout, the sandbox, the projects and their results.
    A pipeline that runs tests as some of its steps holds one as `tests` (see `WithTests`)."""

    __test__ = False  # not a pytest class

    def __init__(self, tmp: Path | None = None) -> None:
        self.tmp = tmp or Path(tempfile.mkdtemp(prefix="dockhand-test-"))  # given: shared with another run
        self.tree: SourceTree | None = None
        self.box: LiveSandboxLike | None = None
        self.plans: list[ProjectPlan] = []
        self.projects: list[dict[str, Any]] = []
        self.reused: dict[str, Any] | None = None
        self.outputs: dict[int, str] = {}  # per project (by index): the test run's output, head and tail
        # The `.dockhand.toml` to go by when the checkout's own may not be trusted (a branch the agent wrote).
        self.config: DockhandFile | None = None
        self.started = time.monotonic()
        self.snapshot: snapshot_use.SnapshotInfo | None = None  # the repository's, when the sandbox began from it
        self.base_image = ""  # the image the sandbox would be made from without a snapshot


@runtime_checkable
class WithTests(Protocol):
    """A pipeline's run state that composes a test run in (a resolution, a review)."""

    tests: TestRun


RunT = TypeVar("RunT")


def run_state(ctx: StageContext, kind: type[RunT]) -> RunT:
    """The state the stages of this run share (made by the first stage that asks)."""
    if isinstance(ctx.run, kind):
        return ctx.run
    made = kind()
    ctx.run = made
    return made


def _run(ctx: StageContext) -> TestRun:
    """The test run the shared steps (install, clean-up) work on: the run itself, or the one it composes in."""
    if isinstance(ctx.run, WithTests):
        return ctx.run.tests
    return run_state(ctx, TestRun)


def sandbox_provider(ctx: StageContext) -> SandboxProvider:
    if ctx.sandboxes is None:
        raise StageFailedError("no sandbox backend: Docker is not available to this worker")
    return ctx.sandboxes


def _spec(ctx: StageContext) -> TestPipelineSpec:
    assert isinstance(ctx.spec, TestPipelineSpec)
    return ctx.spec


def repository_url(git_url: str, repository: str) -> str:
    """The clone URL of owner/name under the configured git host."""
    return f"{git_url.rstrip('/')}/{repository}.git"


def source_of(ctx: StageContext) -> str:
    spec = _spec(ctx)
    if spec.source:
        return spec.source
    if ctx.task.repository:
        return repository_url(ctx.settings.github_git_url, ctx.task.repository)
    raise StageFailedError("nothing to test: the task names neither a source nor a repository")


# --- stages -----------------------------------------------------------------------------------
def checkout(ctx: StageContext) -> None:
    run, provider, spec = _run(ctx), sandbox_provider(ctx), _spec(ctx)
    source = source_of(ctx)
    # Only an operator's own CLI (or configuration) may name local paths; sources from the network are https only.
    allow_local = ctx.task.trigger_source is TriggerSource.CLI or spec.source is None
    try:
        run.tree = provider.materialize(source, spec.ref, run.tmp / "tree", allow_local=allow_local)
    except DockhandError as exc:
        raise StageFailedError(f"checkout failed: {exc}") from None
    ctx.result.update(source=source, ref=run.tree.ref, commit=run.tree.commit)
    ctx.log.system(f"checked out {source} at {run.tree.commit[:12]} ({run.tree.ref})")


def detect_plans(ctx: StageContext, run: TestRun) -> None:
    """The run's projects, with images only from those the operator configured."""
    assert run.tree is not None
    settings = ctx.settings
    allowed = frozenset(filter(None, [settings.sandbox_image, *settings.sandbox_images.values()]))
    try:
        run.plans = detect(run.tree.path, allowed_images=allowed, config=run.config)
    except DockhandError as exc:
        raise StageFailedError(str(exc)) from None


def detect_projects(ctx: StageContext) -> None:
    run = _run(ctx)
    detect_plans(ctx, run)
    if not run.plans:
        raise StageFailedError(
            "no test projects found (no pyproject.toml/setup.py/requirements.txt, package.json, go.mod or Cargo.toml)"
        )
    for plan in run.plans:
        ctx.log.system(
            f"found {plan.language.value} project at {plan.root}: {plan.framework} via {plan.package_manager}; "
            f"tests as {plan.source_detail or plan.test_source.value} say"
        )
    previous = None if _spec(ctx).force else ctx.previous_result(_run_key(ctx, run))
    if previous is not None:
        run.reused = previous
        ctx.log.system(
            f"this commit and configuration were tested by task {previous['reused_from']}; "
            "reusing its result (force to run again)"
        )
        return
    open_sandbox(ctx, run, "test")


def open_sandbox(ctx: StageContext, run: TestRun, kind: str) -> None:
    """The run's sandbox (in the image its projects ask for, if allowed), with the checked-out tree in it."""
    assert run.tree is not None
    provider = sandbox_provider(ctx)
    image = next((p.image for p in run.plans if p.image), None)
    policy = provider.default_policy()
    if image:
        policy = policy.with_overrides(image=image)
    policy = policy.with_overrides(disk=_disk_limit(ctx, run.tree, policy.disk, run.config))
    run.base_image = policy.image
    key = snapshot_use.snapshot_key(_repository(ctx), run.plans, run.tree)
    begin = snapshot_use.start(provider, key, policy, enabled=ctx.settings.snapshots)
    try:
        run.box, run.snapshot = snapshot_use.open_box(
            provider, ctx.sandbox_id(kind), begin, policy, owner=ctx.sandbox_owner, say=ctx.log.system
        )
        run.box.load_tree(run.tree, keep=run.snapshot.paths if run.snapshot else ())
    except DockhandError as exc:
        raise StageFailedError(f"could not prepare the sandbox: {exc}") from None


def _disk_limit(ctx: StageContext, tree: SourceTree, default: str, config: DockhandFile | None = None) -> str:
    """The repository's own `[sandbox] disk`, if it asks, up to what the operator allows."""
    try:
        asked = (config or dockhand_file(tree.path)).sandbox.disk
    except DockhandError:
        return default  # the detection stage has said what is wrong with the file
    if asked is None:
        return default
    ceiling = ctx.settings.sandbox_disk_limit_max or ctx.settings.sandbox_disk_limit
    unlimited = size_in_bytes(ceiling) == 0
    if not unlimited and (size_in_bytes(asked) > size_in_bytes(ceiling) or size_in_bytes(asked) == 0):
        ctx.log.system(
            f".dockhand.toml asks for {asked} of sandbox disk; this dockhand allows at most {ceiling} "
            "(DOCKHAND_SANDBOX_DISK_LIMIT_MAX): using that"
        )
        return ceiling
    ctx.log.system(f"sandbox disk limit {asked}, as .dockhand.toml asks")
    return asked


def install(ctx: StageContext) -> None:
    run = _run(ctx)
    if run.reused is not None:
        return
    assert run.box is not None and run.tree is not None
    for plan in run.plans:
        project: dict[str, Any] = {
            "language": plan.language.value,
            "root": plan.root,
            "framework": plan.framework,
            "package_manager": plan.package_manager,
            "test_source": plan.test_source.value,
            "source_detail": plan.source_detail,
            "status": "pending",
        }
        run.projects.append(project)
        try:
            _install_project(ctx, run, plan, project)
        except DockhandError as exc:
            project.update(status="install-failed", error=f"install failed: {exc}")


def _install_project(ctx: StageContext, run: TestRun, plan: ProjectPlan, project: dict[str, Any]) -> None:
    provider = sandbox_provider(ctx)
    assert run.box is not None and run.tree is not None
    key = _cache_key(ctx, plan, run.tree)
    if run.snapshot is not None or provider.restore_cache(run.box, key):
        project["cache"] = "snapshot" if run.snapshot is not None else "hit"
        where = "are in the snapshot" if run.snapshot is not None else "restored from the cache"
        ctx.log.system(f"{plan.language.value} {plan.root}: dependencies {where}")
        if plan.refresh_project:  # a regular install holds a copy of the project as it was: this checkout's goes in
            _install_step(ctx, run, plan, project, plan.refresh_project)
        return
    project["cache"] = "miss"
    if plan.install and _install_step(ctx, run, plan, project, plan.install) and not plan.save_cache_after_test:
        _save_cache(ctx, run.box, key, plan)


def _install_step(ctx: StageContext, run: TestRun, plan: ProjectPlan, project: dict[str, Any], command: str) -> bool:
    """An install command in the project's directory, with the network it needs; False (said) when it failed."""
    assert run.box is not None
    run.box.set_network(plan.network_for_install)
    started = time.monotonic()
    try:
        result = run.box.exec(
            ExecRequest(
                command=f"cd {shlex.quote(plan.workdir)} && {command}", env=plan.env, timeout_seconds=INSTALL_TIMEOUT
            ),
            output=lambda line, stream: ctx.log.write(line, stream),
            cancelled=lambda: ctx.cancel.cancelled,
        )
    finally:
        run.box.set_network(False)
    ctx.cancel.raise_if_cancelled()
    project["install_seconds"] = round(time.monotonic() - started, 2)
    if not result.ok:
        project.update(
            status="install-failed",
            error=f"install {result.describe()}:" + last_lines(result.stderr.strip() or result.stdout, 15),
        )
    return result.ok


def _save_cache(ctx: StageContext, box: LiveSandboxLike, key: str, plan: ProjectPlan) -> None:
    started = time.monotonic()
    try:
        stored = sandbox_provider(ctx).save_cache(box, key, plan.cache_paths)
    except DockhandError as exc:
        ctx.log.system(f"could not save the dependency cache: {exc}")
        return
    ctx.log.system(
        f"{plan.language.value} {plan.root}: cache saved ({stored / 1e6:.0f} MB, {time.monotonic() - started:.1f}s)"
    )


def run_tests(ctx: StageContext) -> None:
    run = _run(ctx)
    if run.reused is not None:
        return
    execute_tests(ctx, run)
    # Build outputs exist only now: a Go build cache or a cargo target/ saved before the build would save nothing.
    assert run.box is not None and run.tree is not None
    for plan, project in zip(run.plans, run.projects, strict=True):
        if plan.save_cache_after_test and project.get("cache") == "miss" and project["status"] != "install-failed":
            _save_cache(ctx, run.box, _cache_key(ctx, plan, run.tree), plan)
    snapshot_use.refresh_after_install(ctx, run, _repository(ctx), _cache_key)


def execute_tests(ctx: StageContext, run: TestRun) -> None:
    """Run each installed project's tests in the sandbox, offline; statuses go on `run.projects`."""
    assert run.box is not None
    run.box.set_network(False)
    if any(plan.language is Language.PYTHON for plan in run.plans):
        write_python_tools(run.box)
    for index, (plan, project) in enumerate(zip(run.plans, run.projects, strict=True)):
        if project["status"] != "pending":
            continue
        started = time.monotonic()
        command = test_command(plan)
        try:
            result = run.box.exec(
                ExecRequest(command=command, env=plan.env, timeout_seconds=plan.timeout_seconds),
                output=lambda line, stream: ctx.log.write(line, stream),
                cancelled=lambda: ctx.cancel.cancelled,
            )
        except DockhandError as exc:
            project.update(status="error", error=f"the test run could not start: {exc}")
            continue
        ctx.cancel.raise_if_cancelled()
        run.outputs[index] = f"{result.stdout}\n{result.stderr}"
        project["duration_seconds"] = round(time.monotonic() - started, 2)
        project["exit_code"] = result.exit_code
        if result.timed_out:
            project.update(status="timed-out", error=f"tests {result.describe()}")
        elif result.disk_full:
            project.update(status="disk-full", error=f"tests {result.describe()}")
        else:
            project["status"] = "ran"


def write_python_tools(box: LiveSandboxLike) -> None:
    """The unittest runner and the coverage start-up hook that Python test runs find on PYTHONPATH."""
    box.exec(ExecRequest(command=f"mkdir -p {PYTHON_TOOLS}", timeout_seconds=60))
    for name in ("sitecustomize.py", "dockhand_unittest.py"):
        box.write_file(f"{PYTHON_TOOLS}/{name}", (TOOLS_SOURCE / name).read_bytes())


def test_command(plan: ProjectPlan) -> str:
    """The project's test command in its folder, then (whatever its outcome) what writes its reports."""
    command = f"mkdir -p {plan.reports_dir} && cd {shlex.quote(plan.workdir)} && bash -c {shlex.quote(plan.test)}"
    if plan.after_test:
        command = f"{command}; status=$?; bash -c {shlex.quote(plan.after_test)} >&2; exit $status"
    return command


def reset_projects(run: TestRun) -> None:
    """Before running the tests again (after a change): every installed project is pending again."""
    kept = (
        "language",
        "root",
        "framework",
        "package_manager",
        "test_source",
        "source_detail",
        "cache",
        "install_seconds",
    )
    for i, project in enumerate(run.projects):
        if project["status"] != "install-failed":
            run.projects[i] = {k: project[k] for k in kept if k in project} | {"status": "pending"}


def report(ctx: StageContext) -> None:
    run, spec = _run(ctx), _spec(ctx)
    if run.reused is not None:
        ctx.result.update(run.reused, timings=timings(run.started, run.projects))
        if run.reused.get("status") != "passed":
            raise StageFailedError(f"tests {run.reused.get('status')} (result of task {run.reused['reused_from']})")
        return
    assert run.box is not None and run.tree is not None
    changed = None
    if spec.base:
        try:
            changed = changed_lines(sandbox_provider(ctx).diff(run.tree, spec.base))
        except DockhandError as exc:
            ctx.log.system(f"no diff coverage: {exc}")
    overall = collect_results(ctx, run, changed)
    _finish(ctx, run, overall)


def collect_results(ctx: StageContext, run: TestRun, changed: dict[str, set[int]] | None, label: str = "") -> str:
    """Parse each project's reports (kept as artifacts, under `label` when given); the overall status."""
    assert run.box is not None
    reports = Path(tempfile.mkdtemp(prefix="reports-", dir=run.tmp))
    for index, (plan, project) in enumerate(zip(run.plans, run.projects, strict=True)):
        source = run.tree.path / plan.root if run.tree else None  # Go's per-line coverage reads the source
        report_project(run.box, plan, project, changed, reports, run.outputs.get(index, ""), source)
    put_folder(artifact_store(ctx), ctx.task.id, reports, label)
    shutil.rmtree(reports, ignore_errors=True)
    return overall_status(run.projects)


def _finish(ctx: StageContext, run: TestRun, overall: str) -> None:
    ctx.result.update(
        status=overall, projects=run.projects, run_key=_run_key(ctx, run), timings=timings(run.started, run.projects)
    )
    ctx.metrics["projects"] = len(run.projects)
    summary = ", ".join(f"{p['language']} {p['root']}: {p['status']}" for p in run.projects)
    ctx.log.write(f"result: {overall} ({summary})", LogStream.SYSTEM)
    ctx.log.system(describe_timings(ctx.result["timings"]))
    if overall != "passed":
        raise StageFailedError(f"tests {overall}: {summary}")


def _cache_key(ctx: StageContext, plan: ProjectPlan, tree: SourceTree) -> str:
    manifests = snapshot_use.plan_manifests(plan, tree)
    # By branch (a pull request's entries are never the default branch's), the pushed commit counting as its branch.
    branch = snapshot_use.default_branch_of(sandbox_provider(ctx), tree) or tree.ref
    return cache_key(_repository(ctx), branch, manifests, kind=plan.language.value)


def _repository(ctx: StageContext) -> str:
    return ctx.task.repository or hashlib.sha256(source_of(ctx).encode()).hexdigest()[:12]


def _run_key(ctx: StageContext, run: TestRun) -> str:
    assert run.tree is not None
    config = json.dumps([asdict(p) for p in run.plans], sort_keys=True, default=str)
    base = _spec(ctx).base or ""
    return hashlib.sha256(f"{source_of(ctx)}\0{run.tree.commit}\0{base}\0{config}".encode()).hexdigest()[:24]


def cleanup(ctx: StageContext) -> None:
    """Always the last stage: the sandbox and the host checkout go."""
    run = _run(ctx)
    if run.box is not None and ctx.sandboxes is not None:
        try:
            ctx.sandboxes.destroy(run.box.sandbox_id)
        except DockhandError as exc:
            ctx.log.system(f"could not remove sandbox {run.box.sandbox_id}: {exc}")
    shutil.rmtree(run.tmp, ignore_errors=True)
    ctx.run = None


def pipeline() -> Pipeline:
    return Pipeline(
        name="test-pipeline",
        stages=(
            Stage("checkout", checkout),
            Stage("detect", detect_projects),
            Stage("install", install),
            Stage("test", run_tests),
            Stage("report", report),
        ),
        finally_stage=Stage("cleanup", cleanup),
    )

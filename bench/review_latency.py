"""Benchmark: a signed GitHub `pull_request` webhook to the posted review, with an instant scripted model.

    .venv/bin/python bench/review_latency.py [--runs 3] [--sizes small,large] [--intake-every 1.0] [--quick]

Runs dockhand as `dockhand serve` does, in this process: the HTTP app on 127.0.0.1 (SQLite in a temporary
data directory, GITHUB_WEBHOOK_SECRET set), the workers and the scheduler (`core.start()`), the GitHub
intake as a scheduler job (`attach_intake`, every --intake-every seconds; `dockhand serve` uses 1 s) and
the GitHub pipelines with the Docker sandbox backend. GitHub is the fake GitHub on loopback, with a bare
git repository as the git remote (DOCKHAND_GITHUB_GIT_URL=file://…); the Messages API is the fake
Anthropic on loopback, answering every request at once: each part of the diff gets one reply calling
`report_findings` (one finding on the part's first added line) and `finish_review`, the summary of a
multi-part review one `finish_review`. So the figures are dockhand's own overhead (and the fakes').

For each size — small (~20 changed lines in 2 files) and large (5,000 added or changed lines in 25 files)
— each run pushes a new branch, registers it as a new pull request (a new number, so nothing is reused
or reviewed incrementally), sends a signed `pull_request` `opened` delivery and waits until the fake
GitHub holds the review. Prints, per run and as p50/max per size:
  - end to end: the delivery sent → the review stored by the fake GitHub;
  - where that time went: the webhook's answer, the wait for the intake (delivery → task), the wait for a
    worker (task → claimed), each stage (pull, checkout, plan, review, post), and what is left over;
  - the chunks and model requests of each review, and the time from the post to the task's end (clean-up:
    the sandbox is removed; not in end to end);
  - inside the stages: the host git checkout (and its mirror fetch), the sandbox start, loading the tree into
    the sandbox, the diff, the sandbox removal — timed by wrapping those methods in this process.
Reports one row per size, the p50 end to end (no goal and no floor: a figure for context, with the intake wait
and the sandbox start in its note). Needs the Docker engine and the sandbox image; without them it says so and
reports its rows as skipped. The exit status is 1 when a correctness check fails (a review not posted, the wrong
commit, a model or GitHub contract error, other chunk or request counts than expected); timings are never judged.
The first run of the session also makes the host's git mirror of the repository (later runs fetch).
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._docker import docker_missing
from bench._stats import BenchResult, parse_with_quick
from bench._stats import report as report_result
from bot.github.forge import attach_github_pipelines
from bot.github.intake import attach_intake
from bot.github.signature import sign
from bot.http.app import create_app
from core.models import Task
from core.review.plan import split_files
from core.service import Core
from core.settings import Settings
from core.states import TaskStatus, TaskType
from core.store.queue_types import TaskFilter
from sandbox.backend import dependency_cache, docker_backend
from tests.conftest import FIXTURES
from tests.support.fake_anthropic import Body, FakeAnthropic, Reply, running_fake_anthropic, tool_use
from tests.support.fake_github import FakeGitHub, running_fake_github
from tests.support.server import serve_in_thread
from tests.support.store import sql_core

SECRET = "bench-webhook-secret"
API_TOKEN = "bench-token"
GITHUB_TOKEN = "ghp_fake_token"  # one the fake GitHub accepts
ANTHROPIC_KEY = "sk-ant-test"  # one the fake Anthropic accepts
HOOK_ID = "612345678"
OWNER, NAME = "acme", "shipyard"
REPO = f"{OWNER}/{NAME}"
PR_FIXTURE = FIXTURES / "github-webhooks" / "pull_request" / "opened.payload.json"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
STAGES = ("pull", "checkout", "plan", "review", "post")
HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@")

# The base branch: five modules a large PR changes, one a small PR changes, and a README.
CORE_MODULES = 5
CORE_LINES = 303  # 300 lines after the 3-line header; two in three change
SMALL_MODULE_LINES = 40


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def core_module(index: int, tag: str, changed: bool) -> str:
    """303 lines; with `changed`, two in three of the 300 after the header differ from the base (200 lines)."""
    lines = [f"# core module {index}", "", ""]
    for j in range(len(lines), CORE_LINES):
        label = tag if changed and j % 3 else "base"
        lines.append(f'value_{index}_{j} = compute({j}, "{label}")  # step {j}')
    return "\n".join(lines) + "\n"


def small_module(tag: str, changed: bool) -> str:
    """40 lines; with `changed`, 10 of them differ."""
    lines = ["# small module", ""]
    for j in range(len(lines), SMALL_MODULE_LINES):
        limit = f"limit_{tag}" if changed and 10 <= j < 20 else "limit_base"
        lines.append(f"    check({j}, {limit})")
    return "\n".join(lines) + "\n"


def new_module(tag: str, index: int, lines: int) -> str:
    """`lines` lines of small functions."""
    out = [f'"""Feature {index} of {tag}."""', ""]
    j = 0
    while len(out) < lines:
        out += [f"def feature_{index}_{j}(x):", f"    return x * {j} + {index}  # {tag}", ""]
        j += 1
    return "\n".join(out[:lines]) + "\n"


def small_change(tag: str) -> dict[str, str]:
    """10 lines changed in one module, a new module of 10 lines: about 20 changed lines in 2 files."""
    return {"pkg/small.py": small_module(tag, True), f"pkg/extra_{tag}.py": new_module(tag, 0, 10)}


def large_change(tag: str) -> dict[str, str]:
    """200 lines changed in each of 5 modules, 20 new modules of 200 lines: 5,000 lines in 25 files."""
    files = {f"pkg/core_{i}.py": core_module(i, tag, True) for i in range(CORE_MODULES)}
    files |= {f"pkg/{tag}/feature_{k:02d}.py": new_module(tag, k, 200) for k in range(20)}
    return files


SIZES = {"small": small_change, "large": large_change}


@dataclass
class Remote:
    """The bench repository: a bare repository the git URL points at, and a work tree to push PRs from."""

    root: Path
    bare: Path = field(init=False)
    work: Path = field(init=False)
    base: str = field(init=False)

    def __post_init__(self) -> None:
        seed = self.root / "seed"
        files = {f"pkg/core_{i}.py": core_module(i, "", False) for i in range(CORE_MODULES)}
        files |= {"pkg/small.py": small_module("", False), "README.md": "# shipyard\n", "requirements.txt": ""}
        write(seed, files)
        git("init", "-q", "-b", "main", cwd=seed)
        git("add", "-A", cwd=seed)
        git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "seed", cwd=seed)
        self.bare = self.root / "git" / OWNER / f"{NAME}.git"
        self.bare.parent.mkdir(parents=True)
        git("clone", "-q", "--bare", str(seed), str(self.bare), cwd=self.root)
        self.work = self.root / "work"
        git("clone", "-q", str(self.bare), str(self.work), cwd=self.root)
        self.base = git("rev-parse", "HEAD", cwd=self.work).strip()

    @property
    def git_url(self) -> str:
        return f"file://{self.root / 'git'}/"

    def push_pull(self, number: int, files: dict[str, str]) -> tuple[str, str, list[dict[str, str]], int]:
        """A branch off main with these files, pushed, with refs/pull/N/head: (branch, head, patches, lines)."""
        branch = f"bench-{number}"
        git("checkout", "-q", "-B", branch, self.base, cwd=self.work)
        write(self.work, files)
        git("add", "-A", cwd=self.work)
        git("-c", "user.name=bob", "-c", "user.email=b@b", "commit", "-qm", f"PR {number}", cwd=self.work)
        git("push", "-q", "origin", branch, cwd=self.work)
        head = git("rev-parse", "HEAD", cwd=self.work).strip()
        git("update-ref", f"refs/pull/{number}/head", head, cwd=self.bare)
        diff = git("diff", "-M", f"{self.base}...{head}", cwd=self.work)
        patches = [{"filename": f.path, "patch": "".join(f.hunks)} for f in split_files(diff)]
        added = sum(1 for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++"))
        return branch, head, patches, added


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


# --- the model ----------------------------------------------------------------------------------


def first_text(body: Body) -> str:
    content = body["messages"][0]["content"]
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in content if block.get("type") == "text")


def first_added_line(diff: str) -> tuple[str, int] | None:
    """The path and new-side line number of the first added line of a diff text."""
    path, line = None, 0
    for row in diff.splitlines():
        if row.startswith("+++ "):
            path = row[4:].removeprefix("b/")
            line = 0
        elif match := HUNK.match(row):
            line = int(match[1])
        elif path and line and row.startswith("+"):
            return path, line
        elif path and line and row.startswith(" "):
            line += 1
    return None


def instant_reviewer(body: Body) -> Reply:
    """A chunk: one finding on its first added line, then finish_review; the summary: finish_review."""
    prompt = first_text(body)
    if "<untrusted-diff>" not in prompt:
        return Reply([tool_use("finish_review", {"summary": "The whole change, summarised."})])
    place = first_added_line(prompt.split("<untrusted-diff>", 1)[1])
    blocks = []
    if place is not None:
        finding = {
            "path": place[0],
            "line": place[1],
            "severity": "warning",
            "category": "bugs",
            "explanation": f"Bench finding on {place[0]}:{place[1]}.",
        }
        blocks.append(tool_use("report_findings", {"findings": [finding]}))
    blocks.append(tool_use("finish_review", {"summary": "This part looks fine."}))
    return Reply(blocks)


class TimedReviews(dict[int, dict[str, Any]]):
    """The fake GitHub's reviews, each stored with the wall time it arrived, and a signal for waiters."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived: dict[int, float] = {}
        self.changed = threading.Condition()

    def __setitem__(self, key: int, value: dict[str, Any]) -> None:
        now = time.time()
        with self.changed:
            super().__setitem__(key, value)
            self.arrived[key] = now
            self.changed.notify_all()

    def wait_for(self, number: int, timeout: float) -> tuple[int, dict[str, Any], float] | None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for key, review in self.items():
                    if review["repo"] == REPO and review["number"] == number:
                        return key, review, self.arrived[key]
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.changed.wait(left)


class Timers:
    """Wall time of selected dockhand calls (wrapped in this process only), summed per name until taken."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self.lock = threading.Lock()
        self.undo: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, attribute: str, name: str) -> None:
        original = getattr(owner, attribute)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                with self.lock:
                    self.spent[name] = self.spent.get(name, 0.0) + time.perf_counter() - started

        setattr(owner, attribute, timed)
        self.undo.append((owner, attribute, original))

    def take(self) -> dict[str, float]:
        with self.lock:
            spent, self.spent = self.spent, {}
        return spent

    def restore(self) -> None:
        for owner, attribute, original in reversed(self.undo):
            setattr(owner, attribute, original)
        self.undo.clear()


def instrument() -> Timers:
    """The parts of checkout, plan and clean-up worth telling apart."""
    from bot.github.forge import GitHubForge
    from sandbox.git import RepoMirrors
    from sandbox.live import LiveSandbox
    from sandbox.manager import SandboxManager

    timers = Timers()
    timers.wrap(RepoMirrors, "fetch", "checkout: mirror fetch")
    timers.wrap(GitHubForge, "checkout", "checkout: host tree (incl. fetch)")
    timers.wrap(SandboxManager, "get_or_create", "checkout: sandbox start")
    timers.wrap(LiveSandbox, "load_tree", "checkout: tree into sandbox")
    timers.wrap(SandboxManager, "diff", "plan: git diff")
    timers.wrap(SandboxManager, "destroy", "finish: sandbox removal")
    return timers


# --- a run --------------------------------------------------------------------------------------


@dataclass
class RunFigures:
    size: str
    number: int
    files: int
    added_lines: int
    http: float
    end_to_end: float
    intake_wait: float
    claim_wait: float
    stages: dict[str, float]
    finish: float  # the review stored → the task finished (the sandbox removed, the result stored)
    chunks: int
    requests: int
    comments: int
    parts: dict[str, float] = field(default_factory=dict)  # timed calls inside the stages, summed

    @property
    def unaccounted(self) -> float:
        return self.end_to_end - self.http - self.intake_wait - self.claim_wait - sum(self.stages.values())


@dataclass
class Bench:
    core: Core
    github: FakeGitHub
    reviews: TimedReviews
    model: FakeAnthropic
    remote: Remote
    base_url: str
    template: dict[str, Any]
    timeout: float
    timers: Timers
    failures: list[str] = field(default_factory=list)

    def payload(self, number: int, branch: str, head: str) -> bytes:
        payload = copy.deepcopy(self.template)
        payload.pop("installation", None)  # a token, not a GitHub App: no installation
        payload["number"] = number
        repository = payload["repository"]
        repository.update(full_name=REPO, name=NAME, default_branch="main")
        repository["owner"]["login"] = OWNER
        pull = payload["pull_request"]
        pull.update(number=number, draft=False, title=f"Bench PR {number}", body="A change to review.")
        pull["head"].update(sha=head, ref=branch, label=f"{OWNER}:{branch}")
        pull["base"].update(sha=self.remote.base, ref="main", label=f"{OWNER}:main")
        return json.dumps(payload).encode()

    def send(self, body: bytes) -> tuple[float, int, str]:
        headers = {
            "User-Agent": "GitHub-Hookshot/bench",
            "Content-Type": "application/json",
            "X-GitHub-Event": "pull_request",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-GitHub-Hook-ID": HOOK_ID,
            "X-GitHub-Hook-Installation-Target-Type": "repository",
            "X-GitHub-Hook-Installation-Target-ID": "1296269",
            "X-Hub-Signature-256": sign(body, SECRET),
        }
        started = time.time()
        response = httpx.post(f"{self.base_url}/webhook/github", content=body, headers=headers, timeout=30)
        answer = response.json().get("status") if response.headers.get("content-type") == "application/json" else ""
        return started, response.status_code, str(answer)

    def run(self, size: str, number: int) -> RunFigures | None:
        tag = f"r{number}"
        files = SIZES[size](tag)
        branch, head, patches, added = self.remote.push_pull(number, files)
        self.github.add_pull(
            REPO, number, head_sha=head, base_sha=self.remote.base, head=branch, files=patches,
            title=f"Bench PR {number}", body="A change to review.",
        )  # fmt: skip
        self.model.script = [instant_reviewer] * 1000  # more steps than any review asks for
        self.timers.take()
        requests_before = len(self.model.requests)
        sent, status, answer = self.send(self.payload(number, branch, head))
        http = time.time() - sent
        where = f"{size} PR #{number}"
        if (status, answer) != (202, "queued"):
            self.failures.append(f"{where}: the webhook answered {status} {answer!r}, expected 202 queued")
            return None
        found = self.reviews.wait_for(number, self.timeout)
        if found is None:
            task = self.task_for(number)
            state = f"task {task.id} {task.status.value}: {task.error}" if task else "no task"
            self.failures.append(f"{where}: no review within {self.timeout:.0f} s ({state})")
            return None
        _, review, posted = found
        task = self.finished_task(number)
        if task is None:
            self.failures.append(f"{where}: the review was posted but its task did not finish")
            return None
        result = task.result or {}
        chunks = int((result.get("plan") or {}).get("chunks") or 0)
        requests = len(self.model.requests) - requests_before
        self.check(where, size, task, review, head, chunks, requests, len(files))
        stages = {s.name: s for s in self.core.stages.list(task.id)}
        return RunFigures(
            size=size,
            number=number,
            files=len(patches),
            added_lines=added,
            http=http,
            end_to_end=posted - sent,
            intake_wait=stamp(task.created_at) - sent - http,
            claim_wait=stamp(task.started_at) - stamp(task.created_at),
            stages={name: stages[name].duration_seconds or 0.0 for name in STAGES if name in stages},
            finish=stamp(task.finished_at) - posted,
            parts=self.timers.take(),
            chunks=chunks,
            requests=requests,
            comments=len(review["comments"]),
        )

    def check(
        self, where: str, size: str, task: Task, review: dict[str, Any], head: str, chunks: int, requests: int, n: int
    ) -> None:
        if task.status is not TaskStatus.SUCCEEDED:
            self.failures.append(f"{where}: task {task.id} {task.status.value}: {task.error}")
        if review["commit_id"] != head or review["state"] != "COMMENTED":
            self.failures.append(f"{where}: review {review['state']} on {review['commit_id'][:12]}, not {head[:12]}")
        if not review["body"] or "review" not in review["body"]:
            self.failures.append(f"{where}: the review has no body")
        plan = (task.result or {}).get("plan") or {}
        if len(plan.get("files") or []) != n:
            self.failures.append(f"{where}: {len(plan.get('files') or [])} files reviewed, expected {n}")
        if size == "small" and chunks != 1:
            self.failures.append(f"{where}: {chunks} chunks, expected 1")
        if size == "large" and chunks < 2:
            self.failures.append(f"{where}: {chunks} chunks, expected the diff to need several")
        expected = chunks + (1 if chunks > 1 else 0)  # one reply per chunk, and the summary
        if requests != expected:
            self.failures.append(f"{where}: {requests} model requests, expected {expected} for {chunks} chunks")
        if len(review["comments"]) != chunks:
            self.failures.append(f"{where}: {len(review['comments'])} line comments, expected one per chunk")

    def task_for(self, number: int) -> Task | None:
        for task in self.core.tasks(TaskFilter(types=(TaskType.PR_REVIEW,), limit=500)):
            if task.payload.get("pr_number") == number:
                return task
        return None

    def finished_task(self, number: int) -> Task | None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            task = self.task_for(number)
            if task is not None and task.status.is_final:
                return task
            time.sleep(0.05)
        return None


def stamp(moment: datetime | None) -> float:
    if moment is None:
        return float("nan")
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


# --- the world ----------------------------------------------------------------------------------


def build_image() -> tuple[str, float]:
    from sandbox.image import ImageBuilder, ImageRecipe
    from sandbox.manager import connect_docker

    started = time.perf_counter()
    recipe = ImageRecipe.from_ca_file(HOST_CA_BUNDLE if HOST_CA_BUNDLE.exists() else None)
    tag = ImageBuilder(connect_docker()).build(recipe).tag
    return tag, time.perf_counter() - started


@contextmanager
def world(tmp: Path, image: str, intake_every: float, timeout: float) -> Iterator[Bench]:
    remote = Remote(tmp)
    timers = instrument()
    github = FakeGitHub()
    github.add_repo(REPO)
    reviews = TimedReviews()
    github.reviews = reviews
    with running_fake_github(github) as (_, github_url), running_fake_anthropic() as (model, model_url):
        settings = Settings.load(
            _env_file=None,
            repo_tasks_per_hour=0,  # a benchmark burst, not a rate-limit test
            submissions_per_minute=0,
            data_dir=tmp / "data",
            database_url=f"sqlite:///{tmp / 'data' / 'dockhand.db'}",
            github_webhook_secret=SECRET,
            github_token=GITHUB_TOKEN,
            github_api_url=github_url,
            github_git_url=remote.git_url,
            anthropic_api_key=ANTHROPIC_KEY,
            anthropic_base_url=model_url,
            sandbox_image=image,
        )
        cache = dependency_cache(settings)
        core = sql_core(settings, sandboxes=lambda index: docker_backend(settings, index, cache), caches=[cache])
        try:
            attach_github_pipelines(core)
            core.start()
            attach_intake(core, every_seconds=intake_every)
            with serve_in_thread(create_app(core, api_token=API_TOKEN)) as base_url:
                template = json.loads(PR_FIXTURE.read_text())
                yield Bench(core, github, reviews, model, remote, base_url, template, timeout, timers)
        finally:
            for box in core.list_sandboxes():  # only left behind when a run failed
                try:
                    core.destroy_sandbox(box.id)
                except Exception as exc:  # best effort, reported
                    print(f"could not remove sandbox {box.id}: {exc}", file=sys.stderr)
            core.stop(grace_seconds=5)
            timers.restore()


# --- printing -----------------------------------------------------------------------------------


def seconds(value: float) -> str:
    return f"{value * 1000:7.0f} ms" if value < 10 else f"{value:7.1f} s "


def summary(label: str, values: list[float]) -> str:
    return f"    {label:<36} p50 {seconds(statistics.median(values))}   max {seconds(max(values))}"


def report(size: str, runs: list[RunFigures]) -> None:
    first = runs[0]
    print(
        f"\n{size} PR: {first.files} files, {first.added_lines} added lines, {first.chunks} chunk(s), "
        f"{first.requests} model request(s), {first.comments} line comment(s) — {len(runs)} run(s)"
    )
    header = "      PR  end-to-end   webhook   intake    claim" + "".join(f"{s:>9}" for s in STAGES)
    print(header + "    other   (finish)")
    for r in runs:
        row = f"    {r.number:4d}  {r.end_to_end:8.2f}s  {r.http * 1000:6.0f}ms"
        row += f"  {r.intake_wait:6.2f}s  {r.claim_wait:6.2f}s"
        row += "".join(f"{r.stages.get(s, 0.0):8.2f}s" for s in STAGES)
        print(row + f"  {r.unaccounted:6.2f}s   ({r.finish:.2f}s)")
    print(summary("end to end", [r.end_to_end for r in runs]))
    print(summary("webhook answer", [r.http for r in runs]))
    print(summary("intake wait", [r.intake_wait for r in runs]))
    print(summary("worker claim wait", [r.claim_wait for r in runs]))
    for stage in STAGES:
        print(summary(f"stage {stage}", [r.stages.get(stage, 0.0) for r in runs]))
    print(summary("other (between stages)", [r.unaccounted for r in runs]))
    print(summary("finish (after the post)", [r.finish for r in runs]))
    names = list(dict.fromkeys(name for r in runs for name in r.parts))
    if names:
        print("    inside the stages (timed calls, summed per run):")
        for name in names:
            print("  " + summary(name, [r.parts.get(name, 0.0) for r in runs]))


ROW = {size: f"PR review, {size} PR: webhook → review posted" for size in SIZES}


def row(size: str, runs: list[RunFigures]) -> BenchResult:
    """The p50 end to end of one size; what of it is the intake's poll and the sandbox start is in the note."""
    if not runs:
        return BenchResult(path=ROW[size], figure=None, unit="s", note="skipped: no run posted its review")

    def p50(values: list[float]) -> float:
        return statistics.median(values)

    intake = p50([r.intake_wait for r in runs])
    start = p50([r.parts.get("checkout: sandbox start", 0.0) for r in runs])
    return BenchResult(
        path=ROW[size],
        figure=round(p50([r.end_to_end for r in runs]), 2),
        unit="s",
        note=f"p50 of {len(runs)}; intake wait {intake:.2f} s, sandbox start {start:.2f} s",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per PR size (default 3)")
    parser.add_argument("--sizes", default="small,large", help="comma-separated: small, large (default both)")
    parser.add_argument(
        "--intake-every", type=float, default=1.0, help="seconds between intake passes (default 1.0, as serve)"
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for one review (default 120)")
    args = parse_with_quick(parser, runs=2)
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    if args.runs < 1 or not sizes or any(s not in SIZES for s in sizes) or args.intake_every <= 0:
        parser.error("--runs must be ≥ 1, --sizes one or more of small, large, --intake-every > 0")
    missing = docker_missing()
    if missing:
        print(missing)
        for size in sizes:
            report_result(BenchResult(path=ROW[size], figure=None, unit="s", note=missing[:80]))
        return

    image, build_seconds = build_image()
    print(f"sandbox image {image} ready in {build_seconds:.1f} s")
    started = time.perf_counter()
    results: dict[str, list[RunFigures]] = {size: [] for size in sizes}
    failures: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="dockhand-review-bench-") as tmp,
        world(Path(tmp), image, args.intake_every, args.timeout) as bench,
    ):
        number = 100
        for size in sizes:
            for _ in range(args.runs):
                number += 1
                figures = bench.run(size, number)
                if figures is not None:
                    results[size].append(figures)
        failures = bench.failures
        if bench.github.contract_errors:
            failures.append(f"the fake GitHub saw contract errors: {bench.github.contract_errors[:3]}")
        if bench.model.errors:
            failures.append(f"the fake Anthropic refused requests: {bench.model.errors[:3]}")
        refused = [a for a in bench.github.answers if a[2] >= 400 and "/contents/" not in a[1]]
        if refused:
            failures.append(f"the fake GitHub refused {len(refused)} request(s), e.g. {refused[:3]}")
        github_calls = len(bench.github.requests)

    print(
        f"dockhand PR review latency: signed pull_request/opened → review posted; instant scripted model; "
        f"sandbox backend Docker; SQLite; intake every {args.intake_every:g} s; {sum(map(len, results.values()))} "
        f"reviews in {time.perf_counter() - started:.1f} s, {github_calls} fake GitHub API calls"
    )
    for size, runs in results.items():
        if runs:
            report(size, runs)
    for size, runs in results.items():
        report_result(row(size, runs))
    if failures:
        print(f"\nFAILED: {len(failures)} check(s)")
        for failure in failures:
            print(f"  - {failure}")
        sys.exit(1)
    print("\nall checks passed")


if __name__ == "__main__":
    main()

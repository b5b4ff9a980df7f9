"""Benchmark: a burst of signed GitHub push deliveries over HTTP, redeliveries included, then the intake.

    .venv/bin/python bench/webhook_burst.py [--count 1000] [--duplicates 0.1] [--clients 4] [--in-process] [--quick]

Runs the real HTTP app (uvicorn on 127.0.0.1, SQLite in a temporary data directory, GITHUB_WEBHOOK_SECRET
set; no workers, no scheduler) in a child process, or in this process with --in-process, and fires
--count signed `push` deliveries at POST /webhook/github from --clients client threads. A --duplicates
share of them are redeliveries of earlier ones (same X-GitHub-Delivery and X-GitHub-Hook-ID, same body).
Then this process drains the stored deliveries through `GitHubIntake.process_pending` (its GitHub client
points at the fake GitHub on loopback; pushes should not call it) and checks that each unique delivery
made exactly one pending test-pipeline task. Before all that the same deliveries go to a trivial route on the
same server (it reads the body and answers 202; no signature check, no store): the floor, what a signed POST
of this size costs on this machine now.
Prints:
  - response time p50/p95/p99/max and throughput of the burst (and of the floor), the answers by status code;
  - the intake's drain time and rate;
  - the correctness checks; the exit status is 1 when one of them fails (timings are never judged);
  - the row "webhook intake p99" for bench/run, beside the floor's p99 (goal: under 20 ms).
"""

from __future__ import annotations

import argparse
import collections
import copy
import json
import multiprocessing
import queue
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlmodel import select

from bench._floor import FLOOR_PATH, p99_row, with_floor
from bench._stats import latency_line, parse_with_quick, report
from bot.github.intake import GitHubIntake, github_client_factory, rules_from
from bot.github.signature import sign
from bot.http.app import create_app
from bot.http.server import server_config
from core.models import Task, WebhookDelivery
from core.service import Core
from core.settings import Settings
from core.states import TaskStatus, TaskType
from tests.conftest import FIXTURES
from tests.support.fake_github import FakeGitHub, running_fake_github
from tests.support.processes import until_healthy
from tests.support.server import serve_in_thread
from tests.support.store import database, sql_core

SECRET = "bench-webhook-secret"
API_TOKEN = "bench-token"
GITHUB_TOKEN = "ghp_fake_token"  # one the fake GitHub accepts
HOOK_ID = "512345678"
PUSH_FIXTURE = FIXTURES / "github-webhooks" / "push" / "with-new-branch.payload.json"
WEBHOOK_PATH = "/webhook/github"
GOAL_MS = 20.0


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    after: str
    body: bytes
    redelivery: bool


@dataclass(frozen=True)
class Sent:
    delivery: Delivery
    status: int
    answer: str  # the "status" field of the JSON answer
    started: float
    finished: float

    @property
    def seconds(self) -> float:
        return self.finished - self.started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000, help="deliveries sent in all (default 1000)")
    parser.add_argument(
        "--duplicates", type=float, default=0.1, help="share of --count that are redeliveries, 0 to <1 (default 0.1)"
    )
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads (default 4)")
    parser.add_argument("--intakes", type=int, default=1, help="threads draining the deliveries at once (default 1)")
    parser.add_argument("--batch", type=int, default=50, help="deliveries one process_pending call claims")
    parser.add_argument("--in-process", action="store_true", help="serve from a thread of this process")
    parser.add_argument("--fresh-connections", action="store_true", help="a new TCP connection per delivery")
    parser.add_argument("--seed", type=int, default=1)
    args = parse_with_quick(parser, count=1000)  # the size: a second or two, and a p99 of 10 samples
    if args.count < 1 or not 0 <= args.duplicates < 1 or args.clients < 1 or args.intakes < 1 or args.batch < 1:
        parser.error("--count, --clients, --intakes, --batch must be ≥ 1 and --duplicates from 0 to below 1")

    fake = FakeGitHub()
    fake.add_repo("Codertocat/Hello-World", default_branch="master")
    with tempfile.TemporaryDirectory() as tmp, running_fake_github(fake) as (fake, github_url):
        config: dict[str, Any] = {
            "_env_file": None,
            "repo_tasks_per_hour": 0,  # a benchmark burst, not a rate-limit test
            "submissions_per_minute": 0,
            "data_dir": Path(tmp),
            "database_url": f"sqlite:///{Path(tmp) / 'dockhand.db'}",
            "github_webhook_secret": SECRET,
            "github_token": GITHUB_TOKEN,
            "github_api_url": github_url,
        }
        core = sql_core(Settings.load(**config))
        try:
            with serving(core, config, args.in_process) as base_url:
                failures = run(core, fake, base_url, args)
        finally:
            core.stop()
    if failures:
        print(f"FAILED: {len(failures)} check(s)")
        for failure in failures:
            print(f"  - {failure}")
        sys.exit(1)
    print("all checks passed")


@contextmanager
def serving(core: Core, config: dict[str, Any], in_process: bool) -> Iterator[str]:
    """The app without workers or scheduler, so nothing but the request path touches the deliveries."""
    if in_process:
        with serve_in_thread(with_floor(create_app(core, api_token=API_TOKEN))) as base_url:
            yield base_url
        return
    context = multiprocessing.get_context("spawn")  # this process already runs threads: no fork
    parent_end, child_end = context.Pipe()
    child = context.Process(target=serve_child, args=(config, child_end), name="dockhand-bench-server")
    child.start()
    try:
        if not parent_end.poll(60):
            raise RuntimeError("the server process did not start")
        base_url = f"http://127.0.0.1:{parent_end.recv()}"
        until_healthy(base_url, child.is_alive)
        yield base_url
    finally:
        child.terminate()  # SIGTERM: uvicorn shuts down gracefully
        child.join(30)
        if child.is_alive():
            child.kill()
            child.join()


def serve_child(config: dict[str, Any], conn: Any) -> None:
    """Bind as `dockhand serve` does (uvicorn's own host and port), then tell the parent the port."""
    import uvicorn

    core = sql_core(Settings.load(**config))
    server = uvicorn.Server(server_config(with_floor(create_app(core, api_token=API_TOKEN)), host="127.0.0.1", port=0))

    def report_port() -> None:
        while not server.started:
            time.sleep(0.01)
        conn.send(server.servers[0].sockets[0].getsockname()[1])
        conn.close()

    threading.Thread(target=report_port, daemon=True).start()
    try:
        server.run()
    finally:
        core.stop()


def plan(count: int, duplicates: float, clients: int, rng: random.Random) -> list[Delivery]:
    """Unique deliveries in order, each redelivery placed a little after the one it repeats."""
    template = json.loads(PUSH_FIXTURE.read_text())
    redeliveries = min(round(count * duplicates), count - 1)  # something to redeliver
    unique = count - redeliveries
    originals = []
    for _ in range(unique):
        payload = copy.deepcopy(template)
        after = rng.randbytes(20).hex()
        payload["after"] = after
        if payload.get("head_commit"):
            payload["head_commit"]["id"] = after
        body = json.dumps(payload).encode()
        originals.append(Delivery(str(uuid.UUID(int=rng.getrandbits(128), version=4)), after, body, False))
    keyed: list[tuple[float, Delivery]] = [(float(i), d) for i, d in enumerate(originals)]
    gap = 2 * clients  # far enough behind that the original has usually been answered
    for _ in range(redeliveries):
        i = rng.randrange(unique)
        keyed.append((i + gap + rng.random() * max(unique - i, 1), replace(originals[i], redelivery=True)))
    keyed.sort(key=lambda pair: pair[0])
    return [d for _, d in keyed]


def send_burst(
    base_url: str, deliveries: list[Delivery], args: argparse.Namespace, path: str = WEBHOOK_PATH
) -> tuple[list[Sent], float]:
    todo: queue.SimpleQueue[Delivery] = queue.SimpleQueue()
    for delivery in deliveries:
        todo.put(delivery)
    sent: list[Sent] = []
    lock = threading.Lock()
    limits = httpx.Limits(max_keepalive_connections=0 if args.fresh_connections else 1)
    ready = threading.Barrier(args.clients + 1)

    def client() -> None:
        with httpx.Client(base_url=base_url, timeout=60, limits=limits) as http:
            ready.wait()
            while True:
                try:
                    delivery = todo.get_nowait()
                except queue.Empty:
                    return
                headers = {
                    "User-Agent": "GitHub-Hookshot/bench",
                    "Content-Type": "application/json",
                    "X-GitHub-Event": "push",
                    "X-GitHub-Delivery": delivery.delivery_id,
                    "X-GitHub-Hook-ID": HOOK_ID,
                    "X-GitHub-Hook-Installation-Target-Type": "repository",
                    "X-GitHub-Hook-Installation-Target-ID": "1296269",
                    "X-Hub-Signature-256": sign(delivery.body, SECRET),
                }
                started = time.perf_counter()
                try:
                    response = http.post(path, content=delivery.body, headers=headers)
                    status, answer = response.status_code, _answer(response)
                except httpx.HTTPError as exc:
                    status, answer = 0, f"{type(exc).__name__}: {exc}"
                finished = time.perf_counter()
                with lock:
                    sent.append(Sent(delivery, status, answer, started, finished))

    with ThreadPoolExecutor(args.clients) as pool:
        futures = [pool.submit(client) for _ in range(args.clients)]
        ready.wait()
        burst_started = time.perf_counter()
        for future in futures:
            future.result()
    return sent, time.perf_counter() - burst_started


def _answer(response: httpx.Response) -> str:
    try:
        return str(response.json().get("status") or response.json().get("error"))
    except ValueError:
        return response.text[:80]


def drain(core: Core, args: argparse.Namespace) -> tuple[float, list[float]]:
    """Run the intake until no delivery is left; the wall time and the time of each batch, per delivery."""
    intake = GitHubIntake(core, github_client_factory(core.settings), rules_from(core.settings))
    per_delivery: list[float] = []
    lock = threading.Lock()

    def loop() -> None:
        while True:
            started = time.perf_counter()
            n = intake.process_pending(args.batch)
            if n == 0:
                return
            with lock:
                per_delivery.extend([(time.perf_counter() - started) / n] * n)

    started = time.perf_counter()
    with ThreadPoolExecutor(args.intakes) as pool:
        for future in [pool.submit(loop) for _ in range(args.intakes)]:
            future.result()
    return time.perf_counter() - started, per_delivery


def run(core: Core, fake: FakeGitHub, base_url: str, args: argparse.Namespace) -> list[str]:
    failures: list[str] = []
    deliveries = plan(args.count, args.duplicates, args.clients, random.Random(args.seed))
    unique = {d.delivery_id: d for d in deliveries if not d.redelivery}
    redeliveries = len(deliveries) - len(unique)

    floor, floor_seconds = send_burst(base_url, deliveries, args, FLOOR_PATH)
    sent, burst_seconds = send_burst(base_url, deliveries, args)

    by_id: dict[str, list[Sent]] = collections.defaultdict(list)
    for s in sent:
        by_id[s.delivery.delivery_id].append(s)
    answers = collections.Counter((s.status, s.answer) for s in sent)
    overlapped = 0
    for sends in by_id.values():
        sends.sort(key=lambda s: s.started)
        overlapped += sum(1 for later in sends[1:] if later.started < sends[0].finished)
        queued = [s for s in sends if (s.status, s.answer) == (202, "queued")]
        duplicate = [s for s in sends if (s.status, s.answer) == (200, "duplicate")]
        if len(queued) != 1 or len(duplicate) != len(sends) - 1:
            failures.append(
                f"delivery {sends[0].delivery.delivery_id}: answers {[(s.status, s.answer) for s in sends]}, "
                "expected one 202 queued and the rest 200 duplicate"
            )
    if len(sent) != len(deliveries):
        failures.append(f"{len(sent)} answers for {len(deliveries)} deliveries sent")

    with database(core).read() as session:
        stored = session.exec(select(WebhookDelivery)).all()
        tasks_before = len(session.exec(select(Task.id)).all())
    if len(stored) != len(unique) or {r.delivery_id for r in stored} != set(unique):
        failures.append(f"{len(stored)} deliveries stored, expected the {len(unique)} unique ones")
    if any(r.payload is None or r.processed_at is not None for r in stored):
        failures.append("a stored delivery has no payload or was processed before the intake ran")
    if tasks_before:
        failures.append(f"{tasks_before} tasks exist before the intake ran (the request path must not make tasks)")

    drain_seconds, per_delivery = drain(core, args)
    task_summary, task_failures = check_tasks(core, unique)
    failures += task_failures
    github_calls = len(fake.requests)
    if fake.contract_errors:
        failures.append(f"the fake GitHub saw contract errors: {fake.contract_errors[:3]}")

    mode = "a thread of this process" if args.in_process else "a child process"
    connections = "a new connection per delivery" if args.fresh_connections else "keep-alive"
    payload_kib = statistics.mean(len(d.body) for d in deliveries) / 1024
    print(
        f"dockhand webhook burst: {len(deliveries)} signed push deliveries ({len(unique)} unique, "
        f"{redeliveries} redeliveries, {payload_kib:.1f} KiB each) from {args.clients} clients, {connections}; "
        f"server in {mode}, {database(core).url.get_backend_name()}"
    )
    print(f"  burst sent in {burst_seconds:.2f} s: {len(sent) / burst_seconds:.0f} deliveries/s")
    print(f"  floor: POST {FLOOR_PATH} ({len(floor) / floor_seconds:.0f}/s) {latency_line([s.seconds for s in floor])}")
    print(f"  POST /webhook/github, all      {latency_line([s.seconds for s in sent])}")
    firsts = [s for s in sent if (s.status, s.answer) == (202, "queued")]
    dups = [s for s in sent if (s.status, s.answer) == (200, "duplicate")]
    if firsts:
        print(f"    new (202 queued)             {latency_line([s.seconds for s in firsts])}")
    if dups:
        print(f"    redelivery (200 duplicate)   {latency_line([s.seconds for s in dups])}")
    print("  answers: " + ", ".join(f"{n} x {status} {answer}" for (status, answer), n in sorted(answers.items())))
    if overlapped:
        print(f"  ({overlapped} redeliveries were sent while their original was still in flight)")
    rate = len(unique) / drain_seconds if drain_seconds else float("inf")
    print(
        f"  intake drained {len(unique)} deliveries in {drain_seconds:.2f} s ({rate:.0f}/s, {args.intakes} thread(s), "
        f"batches of {args.batch})"
    )
    if per_delivery:
        print(f"    per delivery (batch mean)    {latency_line(per_delivery)}")
    print(f"  {task_summary}")
    print(f"  GitHub API calls during the intake: {github_calls} (pushes need none)")
    note = f"{len(sent)} signed pushes, {args.clients} clients"
    report(
        p99_row("webhook intake p99", [s.seconds for s in sent], [s.seconds for s in floor], goal_ms=GOAL_MS, note=note)
    )
    return failures


def check_tasks(core: Core, unique: dict[str, Delivery]) -> tuple[str, list[str]]:
    """Exactly one pending test-pipeline task per unique delivery, for its commit, and every delivery finished."""
    failures = []
    with database(core).read() as session:
        tasks = session.exec(select(Task)).all()
        rows = session.exec(select(WebhookDelivery)).all()
    expected = {f"github:{HOOK_ID}:{delivery_id}": d for delivery_id, d in unique.items()}
    keys = collections.Counter(t.dedup_key for t in tasks)
    doubled = {k: n for k, n in keys.items() if n > 1}
    summary = (
        f"tasks: {len(tasks)} ({len(keys)} dedup keys, {len(doubled)} duplicated) for {len(unique)} unique deliveries"
    )
    if doubled:
        failures.append(f"{len(doubled)} dedup keys have more than one task, e.g. {next(iter(doubled))}")
    if set(keys) != set(expected):
        missing, extra = set(expected) - set(keys), set(keys) - set(expected)
        failures.append(f"{len(missing)} unique deliveries have no task; {len(extra)} tasks match no delivery")
    wrong = [t for t in tasks if t.type is not TaskType.TEST_PIPELINE or t.status is not TaskStatus.PENDING]
    if wrong:
        failures.append(f"{len(wrong)} tasks are not pending test pipelines, e.g. {wrong[0].type} {wrong[0].status}")
    refs = [t for t in tasks if t.dedup_key in expected and t.payload.get("ref") != expected[t.dedup_key].after]
    if refs:
        failures.append(f"{len(refs)} tasks test another commit than their delivery's `after`")
    task_of = {t.dedup_key: t.id for t in tasks}
    unfinished = [
        r
        for r in rows
        if r.processed_at is None
        or r.payload is not None
        or r.task_id != task_of.get(f"github:{r.hook_id}:{r.delivery_id}")
        or not (r.outcome or "").startswith("task ")
    ]
    if unfinished:
        r = unfinished[0]
        failures.append(f"{len(unfinished)} deliveries not finished with their task, e.g. {r.delivery_id}: {r.outcome}")
    return summary, failures


if __name__ == "__main__":
    main()

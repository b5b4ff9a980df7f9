"""Benchmark: how fast Slack slash commands are acknowledged under a burst, while pipelines run in the process.

    .venv/bin/python bench/slack_ack.py [--requests 500] [--clients 8] [--background-tasks 4] [--task-seconds 0.2]
                                        [--quick]

One process holds everything, as `dockhand serve` with Slack in HTTP mode does: a Core on SQLite in a
temporary data directory with its worker pool (2 workers) and scheduler running, the Slack bot (Bolt)
with its thread notifier, and the HTTP app (uvicorn on 127.0.0.1) serving POST /slack/events. The bot's
Web API client talks to the fake Slack on loopback (tests/support/fake_slack.py); nothing leaves the host.

A feeder thread keeps --background-tasks `custom` tasks (`sleep --task-seconds`, run on the host, no
Docker) queued or running, so the workers are never idle; their rate is first measured alone for
--quiet-seconds. Then --clients client threads (in a child process, so that their own work does not take
the server's interpreter lock; --in-process-clients keeps them here) send --requests signed `/agent`
commands over real HTTP (keep-alive):
  - `status` (about 45%): an empty acknowledgement; the active tasks follow through the command's
    response_url (the fake Slack records them);
  - `test calc` / `test calc@main` (about 40%, each with its own trigger_id): an empty acknowledgement,
    then the test-pipeline task is submitted, "On it" follows through the response_url and its parent
    message is posted (Bolt runs the rest of the listener on its own executor);
  - malformed commands (about 15%): the reason and the usage, in the acknowledgement itself.
The test-pipeline tasks are claimed by the same workers. This core has no sandbox backend, so each one
fails at once in its checkout stage ("no sandbox backend: Docker is not available to this worker"),
which is all a latency benchmark needs: they still make the claims, stage events and Slack thread posts
and parent-message updates that real ones start with.

Prints the wall time of each request as the client saw it (p50/p95/p99/max, per kind and overall), the
throughput, when each test task was stored relative to its acknowledgement, and what the workers did
before and during the burst (tasks finished, queue waits, run times). Then checks (exit status 1 when
one fails; timings are never judged, except Slack's own 3-second limit on an acknowledgement):
  - every request answered 200 within 3 s, with the acknowledgement its kind calls for;
  - exactly one ephemeral reply through the response_url of each `status` and `test` command, with the
    answer its kind calls for, and none for a malformed one;
  - each `test` command made exactly one test-pipeline task (dedup key slack:command:<trigger_id>) and
    one parent message, and nothing else made a task from Slack;
  - the fake Slack recorded no errors.

Its row for bench/run, "Slack ack p99", stands beside a floor measured just before the burst, with the workers
busy too: the same signed bodies from the same clients to a trivial route on the same server (bench/_floor.py).
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import queue
import random
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlmodel import col, select

from bench._floor import FLOOR_PATH, p99_row, with_floor
from bench._stats import latency_line, parse_with_quick, report
from bot.http.app import create_app
from bot.slack.app import SlackBot
from bot.slack.client import slack_client
from core.events import TaskEventRecord
from core.models import Task
from core.service import Core
from core.settings import Settings
from core.specs import TaskSubmission
from core.states import EventKind, TaskStatus, TaskType, TriggerSource
from tests.conftest import FIXTURES
from tests.support.fake_slack import FakeSlack, running_fake_slack, signed_headers
from tests.support.server import serve_in_thread
from tests.support.store import database, sql_core

SIGNING_SECRET = "bench-slack-signing-secret"
API_TOKEN = "bench-token"
CHANNEL, USER = "C111", "U111"  # a channel and a user the fake Slack knows
SLASH_FIXTURE = FIXTURES / "slack" / "slash_command.json"
SLACK_LIMIT_SECONDS = 3.0
MALFORMED = ("deploy everything", "test", "status a b", "resolve calc", "test calc#3", "cancel", "review calc#x")
KINDS = ("status", "test", "malformed")
EVENTS_PATH = "/slack/events"
GOAL_MS = 100.0


@dataclass(frozen=True)
class Command:
    kind: str  # one of KINDS
    text: str
    trigger_id: str
    response_url: str  # handed out by the fake Slack


@dataclass(frozen=True)
class Sent:
    command: Command
    status: int
    body: dict[str, Any] | None
    error: str
    seconds: float
    answered_at: float  # wall clock (time.time()) when the answer arrived


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=500, help="slash commands sent in the burst (default 500)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads (default 8)")
    parser.add_argument(
        "--background-tasks",
        type=int,
        default=4,
        help="custom tasks the feeder keeps queued or running during the burst; 0 for none (default 4)",
    )
    parser.add_argument("--task-seconds", type=float, default=0.2, help="how long each custom task sleeps")
    parser.add_argument("--workers", type=int, default=2, help="worker threads of the core (default 2)")
    parser.add_argument(
        "--quiet-seconds", type=float, default=2.0, help="background work alone before the burst, to compare with"
    )
    parser.add_argument(
        "--in-process-clients",
        action="store_true",
        help="run the client threads in this process too (by default they run in a child process)",
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parse_with_quick(parser, requests=150, quiet_seconds=1.0)
    if args.requests < 1 or args.clients < 1 or args.background_tasks < 0 or args.workers < 1:
        parser.error("--requests, --clients and --workers must be ≥ 1, --background-tasks ≥ 0")
    if not 0 <= args.task_seconds <= 60 or not 0 < args.quiet_seconds <= 60:
        parser.error("--task-seconds must be from 0 to 60 and --quiet-seconds above 0, at most 60")

    with tempfile.TemporaryDirectory() as tmp, running_fake_slack() as (fake, slack_url):
        settings = Settings.load(
            _env_file=None,
            repo_tasks_per_hour=0,  # a benchmark burst, not a rate-limit test
            submissions_per_minute=0,
            data_dir=Path(tmp),
            database_url=f"sqlite:///{Path(tmp) / 'dockhand.db'}",
            custom_runner="host",
            workers=args.workers,
            slack_bot_token="xoxb-test",
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=f"{slack_url}/api/",
            slack_default_owner="acme",
            slack_update_seconds=1.0,
        )
        core = sql_core(settings)  # no sandbox backend: test pipelines fail fast, custom tasks run on the host
        bot = SlackBot(core, slack_client(settings))
        bot.subscribe()
        feeder = Feeder(core, args.background_tasks, args.task_seconds)
        stopped = False
        try:
            core.start()
            with serve_in_thread(with_floor(create_app(core, api_token=API_TOKEN, slack=bot))) as base_url:
                failures = run(core, fake, feeder, base_url, args)
            feeder.stop()
            core.stop(grace_seconds=5)
            stopped = True
            if fake.errors:
                failures.append(f"the fake Slack recorded {len(fake.errors)} error(s), e.g. {fake.errors[:3]}")
        finally:
            feeder.stop()
            if not stopped:
                core.stop(grace_seconds=5)
    if failures:
        print(f"FAILED: {len(failures)} check(s)")
        for failure in failures:
            print(f"  - {failure}")
        sys.exit(1)
    print("all checks passed")


class Feeder:
    """Keeps `depth` custom tasks queued or running, from a thread of its own, until stopped."""

    def __init__(self, core: Core, depth: int, seconds: float) -> None:
        self.core = core
        self.depth = depth
        self.command = f"sleep {seconds}; echo x"
        self.submitted: list[str] = []
        self.finished: dict[str, float] = {}  # task id → when its FINISHED event arrived (perf_counter)
        self._outstanding: set[str] = set()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []

    def start(self) -> None:
        if self.depth == 0:
            return
        self.core.bus.subscribe(self._on_event, name="bench-feeder", maxsize=100_000)
        self._thread = threading.Thread(target=self._loop, name="bench-feeder", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def _on_event(self, event: TaskEventRecord) -> None:
        if event.kind is not EventKind.FINISHED:
            return
        with self._cond:
            if event.task_id in self._outstanding:
                self._outstanding.discard(event.task_id)
                self.finished[event.task_id] = time.perf_counter()
                self._cond.notify_all()

    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                while len(self._outstanding) >= self.depth and not self._stop.is_set():
                    self._cond.wait(1.0)
            if self._stop.is_set():
                return
            try:
                outcome = self.core.submit(
                    TaskSubmission(type=TaskType.CUSTOM, payload={"command": self.command}, triggered_by="bench")
                )
            except Exception as exc:  # keep feeding; report at the end
                self.errors.append(f"{type(exc).__name__}: {exc}")
                time.sleep(0.1)
                continue
            with self._cond:
                if outcome.task.id not in self.finished:  # (its FINISHED event cannot come first, but be safe)
                    self._outstanding.add(outcome.task.id)
                self.submitted.append(outcome.task.id)


def plan(count: int, rng: random.Random, fake: FakeSlack) -> list[Command]:
    commands = []
    for i in range(count):
        trigger_id = f"{1_000_000 + i}.{rng.randrange(10**11)}.{rng.randbytes(16).hex()}"
        url = fake.response_url(f"cmd-{trigger_id}")
        roll = rng.random()
        if roll < 0.45:
            commands.append(Command("status", "status", trigger_id, url))
        elif roll < 0.85:
            commands.append(Command("test", "test calc@main" if i % 2 else "test calc", trigger_id, url))
        else:
            commands.append(Command("malformed", MALFORMED[i % len(MALFORMED)], trigger_id, url))
    return commands


def signed_request(template: dict[str, str], command: Command) -> tuple[bytes, dict[str, str]]:
    """The form body and headers Slack would send for `command`, signed now."""
    fields = dict(template)
    fields.update(
        command="/agent",
        text=command.text,
        user_id=USER,
        user_name="alice",
        channel_id=CHANNEL,
        trigger_id=command.trigger_id,
        response_url=command.response_url,
    )
    body = urlencode(fields)
    headers = {
        **signed_headers(body, SIGNING_SECRET, "application/x-www-form-urlencoded"),
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }
    return body.encode(), headers


def post(http: httpx.Client, template: dict[str, str], command: Command, path: str = EVENTS_PATH) -> Sent:
    body, headers = signed_request(template, command)
    started = time.perf_counter()
    try:
        response = http.post(path, content=body, headers=headers)
        seconds = time.perf_counter() - started
        try:
            answer = response.json()
        except ValueError:
            answer = None
        return Sent(command, response.status_code, answer, response.text[:200], seconds, time.time())
    except httpx.HTTPError as exc:
        return Sent(command, 0, None, f"{type(exc).__name__}: {exc}", time.perf_counter() - started, time.time())


def send_burst(
    base_url: str, commands: list[Command], clients: int, path: str = EVENTS_PATH
) -> tuple[list[Sent], float, float, float]:
    """Send `commands` from `clients` threads; the answers, the burst's duration, its start and end (epoch)."""
    template = json.loads(SLASH_FIXTURE.read_text())
    todo: queue.SimpleQueue[Command] = queue.SimpleQueue()
    for command in commands:
        todo.put(command)
    sent: list[Sent] = []
    lock = threading.Lock()
    ready = threading.Barrier(clients + 1)

    def client() -> None:
        with httpx.Client(base_url=base_url, timeout=30) as http:
            ready.wait()
            while True:
                try:
                    command = todo.get_nowait()
                except queue.Empty:
                    return
                result = post(http, template, command, path)
                with lock:
                    sent.append(result)

    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(client) for _ in range(clients)]
        ready.wait()
        started_at = time.time()
        started = time.perf_counter()
        for future in futures:
            future.result()
        seconds = time.perf_counter() - started
        ended_at = time.time()
    return sent, seconds, started_at, ended_at


def send_burst_from_child(
    base_url: str, commands: list[Command], clients: int, path: str = EVENTS_PATH
) -> tuple[list[Sent], float, float, float]:
    """The same from a child process, so the clients' own work does not share the server's interpreter lock."""
    context = multiprocessing.get_context("spawn")  # this process already runs threads: no fork
    with context.Pool(1) as pool:
        pool.apply(time.time)  # the child is up and has imported this module before the burst starts
        return pool.apply(send_burst, (base_url, commands, clients, path))


def wait_until(what: Any, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if what():
            return True
        time.sleep(interval)
    return bool(what())


def slack_tasks(core: Core) -> list[Task]:
    with database(core).read() as session:
        return list(session.exec(select(Task).where(Task.trigger_source == TriggerSource.SLACK)).all())


def parent_posts(fake: FakeSlack) -> list[dict[str, Any]]:
    """chat.postMessage calls that started a thread (the fake's call list only grows: safe to copy)."""
    return [args for method, args in list(fake.calls) if method == "chat.postMessage" and not args.get("thread_ts")]


def run(core: Core, fake: FakeSlack, feeder: Feeder, base_url: str, args: argparse.Namespace) -> list[str]:
    failures: list[str] = []
    template = json.loads(SLASH_FIXTURE.read_text())

    # Warm-up, outside the figures: the first request makes Bolt call auth.test and warms the imports.
    with httpx.Client(base_url=base_url, timeout=30) as http:
        warm = [
            post(http, template, Command("help", "help", f"warm.{i}", fake.response_url(f"warm.{i}"))) for i in range(3)
        ]
    if any(w.status != 200 for w in warm):
        failures.append(f"warm-up `help` answered {[w.status for w in warm]}: {warm[0].error}")

    feeder.start()
    if args.background_tasks:
        # Burst only once the pool is busy: a custom task ran, or all the workers hold one.
        wait_until(lambda: feeder.finished or core.queue.counts_by_status()[TaskStatus.RUNNING] >= args.workers, 30)
    # A quiet stretch first: what the background work does without Slack traffic, to compare with.
    quiet_start = datetime.now(UTC)
    time.sleep(args.quiet_seconds)
    quiet_end = datetime.now(UTC)

    commands = plan(args.requests, random.Random(args.seed), fake)
    burst = send_burst if args.in_process_clients else send_burst_from_child
    floor = burst(base_url, commands, args.clients, FLOOR_PATH)[0]
    sent, burst_seconds, started_at, ended_at = burst(base_url, commands, args.clients)
    burst_start, burst_end = datetime.fromtimestamp(started_at, UTC), datetime.fromtimestamp(ended_at, UTC)

    tests = {c.trigger_id: c for c in commands if c.kind == "test"}
    keys = {f"slack:command:{trigger}" for trigger in tests}

    # The answers.
    by_kind: dict[str, list[Sent]] = collections.defaultdict(list)
    for s in sent:
        by_kind[s.command.kind].append(s)
    if len(sent) != len(commands):
        failures.append(f"{len(sent)} answers for {len(commands)} requests")
    bad_status = [s for s in sent if s.status != 200]
    if bad_status:
        counts = collections.Counter(s.status for s in bad_status)
        failures.append(f"{len(bad_status)} requests not answered 200 ({dict(counts)}), e.g. {bad_status[0].error!r}")
    slow = [s for s in sent if s.seconds > SLACK_LIMIT_SECONDS]
    if slow:
        failures.append(f"{len(slow)} acknowledgements took longer than Slack's {SLACK_LIMIT_SECONDS:.0f} s")
    wrong = [s for s in sent if s.status == 200 and not answer_fits(s)]
    if wrong:
        failures.append(
            f"{len(wrong)} answers do not fit their command, e.g. {wrong[0].command.text!r} → {wrong[0].body!r}"
        )

    # What happens after the acknowledgements: one task and one parent message per `test` command.
    wait_until(lambda: len(slack_tasks(core)) >= len(tests), 60, 0.2)
    wait_until(lambda: len(parent_posts(fake)) >= len(tests), 60, 0.2)
    later = sum(1 for c in commands if c.kind != "malformed")
    wait_until(lambda: answered_later(fake, commands) >= later, 60, 0.2)
    tasks = slack_tasks(core)
    per_key = collections.Counter(t.dedup_key for t in tasks)
    doubled = [k for k, n in per_key.items() if n > 1]
    missing = keys - set(per_key)
    extra = set(per_key) - keys
    if doubled:
        failures.append(f"{len(doubled)} test commands made more than one task, e.g. {doubled[0]}")
    if missing:
        failures.append(f"{len(missing)} test commands made no task, e.g. {next(iter(missing))}")
    if extra:
        failures.append(f"{len(extra)} Slack tasks match no test command, e.g. {next(iter(extra))}")
    misfits = [t for t in tasks if t.type is not TaskType.TEST_PIPELINE or t.repository != "acme/calc"]
    if misfits:
        failures.append(f"{len(misfits)} Slack tasks are not test pipelines of acme/calc, e.g. {misfits[0].id}")
    parents = parent_posts(fake)
    parents_per_task = collections.Counter(t.id for t in tasks for p in parents if t.id in str(p.get("text", "")))
    unposted = [t.id for t in tasks if parents_per_task[t.id] != 1]
    if len(parents) != len(tasks) or unposted:
        failures.append(
            f"{len(parents)} parent messages for {len(tasks)} tasks; {len(unposted)} tasks have not exactly one"
        )

    # Let the test tasks finish (they fail fast) and the notifier post their ends, then the background.
    wait_until(lambda: all(t.status.is_final for t in slack_tasks(core)), 60, 0.2)
    time.sleep(core.settings.slack_update_seconds + 1.0)
    feeder.stop()
    if feeder.errors:
        failures.append(f"the feeder could not submit {len(feeder.errors)} tasks, e.g. {feeder.errors[0]}")
    misreplied = [c for c in commands if not replies_fit(c, fake.responses_to(f"cmd-{c.trigger_id}"))]
    if misreplied:
        c = misreplied[0]
        failures.append(
            f"{len(misreplied)} commands without the reply their kind calls for through the response_url, "
            f"e.g. {c.text!r} → {fake.responses_to(f'cmd-{c.trigger_id}')!r}"
        )

    quiet = window(core, quiet_start, quiet_end)
    during = window(core, burst_start, burst_end)
    tasks = slack_tasks(core)
    stored_after = [
        t.created_at.timestamp() - by_trigger.answered_at
        for by_trigger in by_kind["test"]
        for t in tasks
        if t.dedup_key == f"slack:command:{by_trigger.command.trigger_id}"
    ]
    outcomes = collections.Counter(t.status.value for t in tasks)
    shown = final_parents(fake, tasks)

    print(
        f"dockhand Slack acknowledgements: {len(sent)} signed /agent commands from {args.clients} clients "
        f"(keep-alive) while {args.workers} workers run pipelines; {database(core).url.get_backend_name()}, one process"
    )
    print(f"  warm-up (first request, Bolt's auth.test): {warm[0].seconds * 1000:.1f} ms")
    print(f"  burst sent in {burst_seconds:.2f} s: {len(sent) / burst_seconds:.0f} requests/s")
    print(f"  floor: POST {FLOOR_PATH}      {latency_line([s.seconds for s in floor])}")
    print(f"  all                         {latency_line([s.seconds for s in sent])}")
    labels = {
        "status": "status (answered in ack)",
        "test": "test (task after the ack)",
        "malformed": "malformed (usage in ack)",
    }
    for kind in KINDS:
        print(f"    {labels[kind]:<26}{latency_line([s.seconds for s in by_kind[kind]])}")
    print(f"  test task stored, vs. its ack reaching the client (negative: before) {latency_line(stored_after)}")
    print(
        "  answers: "
        + ", ".join(f"{n} x {status}" for status, n in sorted(collections.Counter(s.status for s in sent).items()))
    )
    custom, test = TaskType.CUSTOM, TaskType.TEST_PIPELINE
    print(
        f"  background (`{feeder.command}`, {args.background_tasks} kept queued or running; "
        f"{len(feeder.submitted)} submitted in all):"
    )
    for name, w in (("before, no Slack traffic", quiet), ("during the burst", during)):
        print(
            f"    {name:<25} {w.finished[custom]:4d} custom tasks finished ({w.finished[custom] / w.seconds:5.1f}/s), "
            f"{w.finished[test]:4d} test pipelines finished, in {w.seconds:.2f} s"
        )
    print(f"    queue wait, custom, during the burst         {latency_line(during.waits[custom])}")
    print(f"    queue wait, test pipeline, during the burst  {latency_line(during.waits[test])}")
    print(f"    run time, custom, before the burst           {latency_line(quiet.runs[custom])}")
    print(f"    run time, custom, during the burst           {latency_line(during.runs[custom])}")
    print(f"    run time, test pipeline, during the burst    {latency_line(during.runs[test])}")
    print(
        f"  test-pipeline tasks: {len(tasks)} for {len(tests)} test commands; outcomes {dict(outcomes)} "
        f"(no sandbox backend here: they fail in checkout, by design)"
    )
    print(f"  parent messages: {len(parents)}; showing the task's final status afterwards: {shown}/{len(tasks)}")
    calls = collections.Counter(method for method, _ in list(fake.calls))
    print("  fake Slack calls: " + ", ".join(f"{n} {method}" for method, n in sorted(calls.items())))
    note = f"{len(sent)} /agent commands, {args.clients} clients, {args.workers} workers busy"
    report(p99_row("Slack ack p99", [s.seconds for s in sent], [s.seconds for s in floor], goal_ms=GOAL_MS, note=note))
    return failures


def answer_fits(s: Sent) -> bool:
    """The acknowledgement: the usage for a malformed command; empty for the others (their answer follows)."""
    body = s.body or {}
    text = str(body.get("text", ""))
    if s.command.kind != "malformed":
        return not text
    return body.get("response_type") == "ephemeral" and "/agent <command>" in text and not text.startswith("Usage:")


def replies_fit(command: Command, replies: list[dict[str, Any]]) -> bool:
    """What came through the command's response_url: one private answer for `status` and `test`, none else."""
    if command.kind == "malformed":
        return not replies
    if len(replies) != 1 or replies[0].get("response_type") != "ephemeral":
        return False
    text = str(replies[0].get("text", ""))
    if command.kind == "test":
        return "On it" in text
    return bool(text) and "Usage" not in text  # status: the active tasks, or that nothing is running


def answered_later(fake: FakeSlack, commands: list[Command]) -> int:
    return sum(1 for c in commands if c.kind != "malformed" and fake.responses_to(f"cmd-{c.trigger_id}"))


@dataclass(frozen=True)
class Window:
    """What the workers did between two instants: tasks finished, and the queue waits of those claimed."""

    seconds: float
    finished: collections.Counter[TaskType]
    overlapping: collections.Counter[TaskType]
    waits: dict[TaskType, list[float]]
    runs: dict[TaskType, list[float]]  # started → finished, of the tasks finished in the window


def window(core: Core, start: datetime, end: datetime) -> Window:
    with database(core).read() as session:
        tasks = session.exec(select(Task).where(col(Task.started_at).is_not(None))).all()
    finished: collections.Counter[TaskType] = collections.Counter()
    overlapping: collections.Counter[TaskType] = collections.Counter()
    waits: dict[TaskType, list[float]] = collections.defaultdict(list)
    runs: dict[TaskType, list[float]] = collections.defaultdict(list)
    for task in tasks:
        assert task.started_at is not None
        if task.finished_at is not None and start <= task.finished_at <= end:
            finished[task.type] += 1
            runs[task.type].append((task.finished_at - task.started_at).total_seconds())
        if task.started_at <= end and (task.finished_at is None or task.finished_at >= start):
            overlapping[task.type] += 1
            for event in core.journal.events(task.id):
                if event.kind is EventKind.CLAIMED and start <= event.created_at <= end:
                    waits[task.type].append(float(event.data["queued_seconds"]))
    return Window((end - start).total_seconds(), finished, overlapping, waits, runs)


def final_parents(fake: FakeSlack, tasks: list[Task]) -> int:
    """Tasks whose parent message (as the fake holds it now) names their final status."""
    messages = list(fake.messages.values())
    shown = 0
    for task in tasks:
        for message in messages:
            if "thread_ts" not in message and task.id in str(message.get("text", "")):
                if task.status.value in json.dumps(message.get("blocks", [])) + str(message.get("text", "")):
                    shown += 1
                break
    return shown


if __name__ == "__main__":
    main()

"""Benchmark: hostile requests to every route of a real `dockhand serve`, and its memory meanwhile.

    .venv/bin/python bench/http_fuzz.py [--requests 10000] [--database-url URL] [--seed N] [--quick]

Starts `dockhand serve` (SQLite in a temporary data directory, or --database-url, e.g. PostgreSQL;
no workers) with a GitHub webhook secret, a Slack signing secret and a fake Slack Web API on
loopback, and sends --requests requests from the seeded fuzzer the test suite uses (tests/support/fuzz.py):
admin API, GitHub webhooks and Slack events, signed with the real secrets as often as not. Prints:
  - the answers by status code, and any 5xx or dropped request (the exit status is 1 if there is one,
    or if the service is not answering afterwards);
  - the service's resident memory (VmRSS) after a warm-up of 10% of the requests, then every 10%, and
    its growth from the warm-up to the end (a figure, not judged).
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._stats import BenchResult, parse_with_quick, report  # noqa: E402
from tests.support.fake_slack import running_fake_slack  # noqa: E402
from tests.support.fuzz import GITHUB_SECRET, SLACK_SECRET, TOKEN, Fuzzer  # noqa: E402
from tests.support.processes import dockhand_cmd, dockhand_env, free_port, until_healthy  # noqa: E402


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seed", type=int, default=20261206)
    args = parse_with_quick(parser, requests=1000)

    with tempfile.TemporaryDirectory(prefix="dockhand-fuzz-") as tmp, running_fake_slack() as (_, slack_url):
        data = Path(tmp) / "data"
        port = free_port()
        env = dockhand_env(
            data,
            args.database_url or f"sqlite:///{data / 'dockhand.db'}",
            api_token=TOKEN,
            github_webhook_secret=GITHUB_SECRET,
            github_token="ghp_fuzz",
            github_api_url="http://127.0.0.1:9",  # nothing there: the intake's calls fail fast
            slack_bot_token="xoxb-test",
            slack_signing_secret=SLACK_SECRET,
            slack_api_url=f"{slack_url}/api/",
            slack_default_owner="acme",
        )
        server_log = Path(tmp) / "serve.log"
        server = subprocess.Popen(
            [*dockhand_cmd("serve", "--port", str(port), "--workers", "0")],
            env=env,
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=server_log.open("w"),
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            try:
                until_healthy(base, lambda: server.poll() is None, timeout=60)
            except RuntimeError:
                print("the service did not start:", server_log.read_text()[-2000:])
                return 1
            with httpx.Client(base_url=base, timeout=30) as http:
                fuzzer = Fuzzer(random.Random(args.seed), http, "no-such-task", [])
                tenth = max(args.requests // 10, 1)
                started = time.monotonic()
                samples = []
                for n in range(1, args.requests + 1):
                    fuzzer.any_request()
                    if n % tenth == 0:
                        samples.append((n, rss_kib(server.pid)))
                elapsed = time.monotonic() - started
                alive = http.get("/healthz").status_code == 200
        finally:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)

    statuses = collections.Counter(status for status, _ in fuzzer.answers)
    bad = [answer for answer in fuzzer.answers if answer[0] >= 500 or answer[0] == 0]
    print(f"requests: {len(fuzzer.answers)} in {elapsed:.1f}s ({len(fuzzer.answers) / elapsed:.0f}/s)")
    print("answers by status:", dict(sorted(statuses.items())))
    print(f"5xx or dropped: {len(bad)}", *(f"\n  {b}" for b in bad[:10]))
    print("service RSS (MiB) by requests sent:", ", ".join(f"{n}: {kib / 1024:.1f}" for n, kib in samples))
    if len(samples) >= 2:
        growth = (samples[-1][1] - samples[0][1]) / 1024
        print(f"RSS growth from warm-up ({samples[0][0]} requests) to the end: {growth:+.1f} MiB")
    print(f"service answering afterwards: {alive}")
    report(
        BenchResult(
            path="hostile requests answered 5xx or dropped",
            figure=len(bad),
            unit="requests",
            goal="0",
            ok=not bad and alive,
            note=f"of {len(fuzzer.answers)}, {len(fuzzer.answers) / elapsed:.0f}/s; no floor",
        )
    )
    return 0 if not bad and alive else 1


if __name__ == "__main__":
    sys.exit(main())

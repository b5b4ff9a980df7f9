"""Running dockhand's own CLI as separate processes, as an operator would."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

_SCRUBBED_PREFIXES = ("DOCKHAND_", "GITHUB_", "SLACK_", "ANTHROPIC_")


def dockhand_env(data_dir: Path, database_url: str, **settings: object) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    env.update(
        DOCKHAND_DATA_DIR=str(data_dir),
        DOCKHAND_DATABASE_URL=database_url,
        DOCKHAND_LOG_LEVEL="WARNING",
        DOCKHAND_CUSTOM_RUNNER="host",
        DOCKHAND_REPO_TASKS_PER_HOUR="0",  # bursts in these tests are not about rate limits
        DOCKHAND_SUBMISSIONS_PER_MINUTE="0",
    )
    env.update({f"DOCKHAND_{k.upper()}": str(v) for k, v in settings.items()})
    return env


def dockhand_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot.cli.main", *args]


def run_cli(env: dict[str, str], cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        dockhand_cmd(*args), env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=check
    )


@contextmanager
def running(env: dict[str, str], cwd: Path, *args: str) -> Iterator[subprocess.Popen[str]]:
    """A long-running dockhand process; killed (with its process group) if still alive at the end."""
    proc = subprocess.Popen(
        dockhand_cmd(*args),
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def until_healthy(base_url: str, alive: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait until the service at `base_url` answers /healthz (RuntimeError if it dies or takes too long)."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or not alive():
            raise RuntimeError(f"the service at {base_url} did not answer /healthz")
        time.sleep(0.05)

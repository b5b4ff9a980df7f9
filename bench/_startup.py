"""Start-up measurements shared by the start-up benches: the floor (a bare interpreter start of the same
venv) and a command run in a pseudo-terminal until a given text shows on its screen."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import statistics
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Sequence
from pathlib import Path

VENV_PYTHON = Path(sys.executable)
# Escape sequences (CSI, OSC, two-byte ones): what lies between the characters a screen shows.
_ESCAPES = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def bare_python_seconds(runs: int) -> float:
    """Median wall time of `python -c pass` with this venv's interpreter: the floor of any command here."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([str(VENV_PYTHON), "-c", "pass"], check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def seconds_until_shown(
    argv: Sequence[str], wanted: Sequence[str], *, env: dict[str, str], size: tuple[int, int], timeout: float = 30.0
) -> float | None:
    """Start `argv` in a pseudo-terminal of `size` (columns, rows) and return the seconds until any of
    `wanted` is on its screen (escape sequences removed), or None if it never shows. The process is then
    ended (SIGTERM, then SIGKILL)."""
    columns, rows = size
    main_fd, child_fd = pty.openpty()
    fcntl.ioctl(child_fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    started = time.perf_counter()
    process = subprocess.Popen(
        list(argv),
        stdin=child_fd,
        stdout=child_fd,
        stderr=child_fd,
        env=env | {"TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(rows)},
        start_new_session=True,
        close_fds=True,
    )
    os.close(child_fd)
    raw = b""
    needles = [w.encode() for w in wanted]
    try:
        while time.perf_counter() - started < timeout:
            ready, _, _ = select.select([main_fd], [], [], 0.05)
            if not ready:
                if process.poll() is not None:
                    return None
                continue
            try:
                chunk = os.read(main_fd, 65536)
            except OSError:  # the child closed its end
                return None
            raw += chunk
            shown = _ESCAPES.sub(b"", raw)  # the whole output: a sequence may be split between reads
            if any(n in shown for n in needles):
                return time.perf_counter() - started
        return None
    finally:
        _end(process)
        os.close(main_fd)


def _end(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def runs_argument(description: str, default: int, quick: int = 3) -> int:
    """How many runs the command line asks for: `--runs N`, or `--quick` (a few, for bench/run)."""
    import argparse

    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=default)
    parser.add_argument("--quick", action="store_true", help=f"{quick} runs")
    args = parser.parse_args()
    return quick if args.quick else int(args.runs)

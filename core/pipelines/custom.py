"""The `custom` pipeline: run one shell command, stream its output, honour timeout and cancel.

Until the sandbox lands the command runs on the host, in its own process group (so the whole
tree is killed on timeout or cancel), in a per-task working directory, with a minimal environment:
none of dockhand's own variables or credentials are passed to it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from typing import IO

from core.errors import StageFailedError
from core.pipeline import Pipeline, Stage, StageContext
from core.specs import CustomSpec
from core.states import LogStream

KILL_GRACE_SECONDS = 2.0
_PASSED_THROUGH = ("PATH", "LANG", "LC_ALL", "TZ")


def run_command(ctx: StageContext) -> None:
    spec = ctx.spec
    assert isinstance(spec, CustomSpec)
    workdir = ctx.settings.data_dir / "work" / ctx.task.id
    workdir.mkdir(parents=True, exist_ok=True)
    timeout = spec.timeout_seconds or ctx.settings.custom_timeout_seconds
    env = {k: os.environ[k] for k in _PASSED_THROUGH if k in os.environ}
    env.update(HOME=str(workdir), DOCKHAND_TASK_ID=ctx.task.id, **spec.env)

    ctx.log.system(f"$ {spec.command}")
    started = time.monotonic()
    proc = subprocess.Popen(
        ["/bin/sh", "-c", spec.command],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    readers = [
        threading.Thread(target=_pump, args=(proc.stdout, ctx, LogStream.STDOUT), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, ctx, LogStream.STDERR), daemon=True),
    ]
    for reader in readers:
        reader.start()
    unregister = ctx.cancel.on_cancel(lambda: _kill_group(proc))
    timed_out = False
    try:
        while True:
            remaining = timeout - (time.monotonic() - started)
            if remaining <= 0:
                timed_out = True
                _kill_group(proc)
                break
            try:
                proc.wait(timeout=min(remaining, 0.25))
                break
            except subprocess.TimeoutExpired:
                ctx.log.flush()
        exit_code = proc.wait()
    finally:
        unregister()
        for reader in readers:
            reader.join(timeout=5)
    duration = round(time.monotonic() - started, 3)
    ctx.result.update(exit_code=exit_code, duration_seconds=duration, timed_out=timed_out)
    ctx.metrics["command_seconds"] = duration
    ctx.cancel.raise_if_cancelled()
    if timed_out:
        raise StageFailedError(f"command timed out after {timeout:g}s")
    if exit_code != 0:
        raise StageFailedError(f"command exited with code {exit_code}")


def _pump(stream: IO[bytes] | None, ctx: StageContext, kind: LogStream) -> None:
    if stream is None:
        return
    with stream:
        for raw in stream:
            ctx.log.write(raw.decode("utf-8", errors="replace"), kind)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the command's whole process group, then SIGKILL what is left after a grace period."""
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        return
    _signal_group(pgid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(KILL_GRACE_SECONDS)
    _signal_group(pgid, signal.SIGKILL)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def pipeline() -> Pipeline:
    return Pipeline(name="custom", stages=(Stage("run", run_command),))

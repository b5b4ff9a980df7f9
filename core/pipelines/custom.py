"""The `custom` pipeline: run one shell command, stream its output, honour timeout and cancel.

By default the command runs in a fresh locked-down sandbox (network off unless the task asks),
destroyed afterwards. With DOCKHAND_CUSTOM_RUNNER=host it runs on the host instead — for trusted
single-user setups only — in its own process group, in a scratch directory outside dockhand's data
directory, with none of dockhand's variables or credentials in its environment; when it ends its
whole process group is killed, so nothing it started outlives the task.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

from core.errors import DockhandError, StageFailedError
from core.pipeline import Pipeline, Stage, StageContext
from core.sandboxing import ExecRequest
from core.specs import CustomSpec
from core.states import LogStream

KILL_GRACE_SECONDS = 2.0
READ_CHUNK = 64 * 1024
_PASSED_THROUGH = ("PATH", "LANG", "LC_ALL", "TZ")

log = logging.getLogger(__name__)


def work_dir(task_id: str) -> Path:
    return Path(tempfile.gettempdir()) / "dockhand-work" / task_id


def run_command(ctx: StageContext) -> None:
    if ctx.settings.custom_runner == "host":
        run_on_host(ctx)
    else:
        run_in_sandbox(ctx)


def run_in_sandbox(ctx: StageContext) -> None:
    spec = ctx.spec
    assert isinstance(spec, CustomSpec)
    if ctx.sandboxes is None:
        raise StageFailedError("no sandbox backend: Docker is not available to this worker")
    sandbox_id = ctx.sandbox_id("custom")
    policy = ctx.sandboxes.default_policy().with_overrides(network=spec.network)
    timeout = spec.timeout_seconds or ctx.settings.custom_timeout_seconds
    ctx.log.system(f"$ {spec.command}   [sandbox {sandbox_id}, network {'on' if spec.network else 'off'}]")
    try:
        box = ctx.sandboxes.get_or_create(sandbox_id, policy, owner=ctx.sandbox_owner)
        env = {**spec.env, "DOCKHAND_TASK_ID": ctx.task.id}
        result = box.exec(
            ExecRequest(command=spec.command, env=env, timeout_seconds=timeout),
            output=lambda line, stream: ctx.log.write(line, stream),
            cancelled=lambda: ctx.cancel.cancelled,
        )
    finally:
        try:
            ctx.sandboxes.destroy(sandbox_id)
        except DockhandError as exc:  # never hide the command's own outcome; the idle reaper retries
            log.warning("task %s: could not destroy sandbox %s: %s", ctx.task.id, sandbox_id, exc)
    ctx.result.update(exit_code=result.exit_code, duration_seconds=result.duration_seconds, timed_out=result.timed_out)
    if result.oom_killed:
        ctx.result["oom_killed"] = True
    if result.disk_full:
        ctx.result["disk_full"] = list(result.disk_full)
    ctx.metrics["command_seconds"] = result.duration_seconds
    ctx.cancel.raise_if_cancelled()
    if not result.ok:
        raise StageFailedError(f"command {result.describe()}")


def run_on_host(ctx: StageContext) -> None:
    spec = ctx.spec
    assert isinstance(spec, CustomSpec)
    workdir = work_dir(ctx.task.id)
    workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    timeout = spec.timeout_seconds or ctx.settings.custom_timeout_seconds
    env = {k: os.environ[k] for k in _PASSED_THROUGH if k in os.environ}
    env.update({"HOME": str(workdir), **spec.env, "DOCKHAND_TASK_ID": ctx.task.id})

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
    pgid = proc.pid  # start_new_session makes the shell the leader of a new process group
    readers = [
        threading.Thread(target=_pump, args=(proc.stdout, ctx, LogStream.STDOUT), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, ctx, LogStream.STDERR), daemon=True),
    ]
    for reader in readers:
        reader.start()
    # Runs on whichever thread cancels: only signal here, never wait.
    unregister = ctx.cancel.on_cancel(lambda: _signal_group(pgid, signal.SIGTERM))
    timed_out = False
    try:
        timed_out = _wait(proc, pgid, timeout, ctx)
    finally:
        unregister()
        _signal_group(pgid, signal.SIGKILL)  # whatever the command left running dies with the task
        exit_code = proc.wait()
        for reader in readers:
            reader.join(timeout=2)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        shutil.rmtree(workdir, ignore_errors=True)
    duration = round(time.monotonic() - started, 3)
    ctx.result.update(exit_code=exit_code, duration_seconds=duration, timed_out=timed_out)
    ctx.metrics["command_seconds"] = duration
    ctx.cancel.raise_if_cancelled()
    if timed_out:
        raise StageFailedError(f"command timed out after {timeout:g}s")
    if exit_code != 0:
        raise StageFailedError(f"command exited with code {exit_code}")


def _wait(proc: subprocess.Popen[bytes], pgid: int, timeout: float, ctx: StageContext) -> bool:
    """Wait for the shell; on timeout or cancel, TERM its group, then give it a grace period. True on timeout."""
    started = time.monotonic()
    while True:
        remaining = timeout - (time.monotonic() - started)
        if remaining <= 0 or ctx.cancel.cancelled:
            _signal_group(pgid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(KILL_GRACE_SECONDS)
            return remaining <= 0 and not ctx.cancel.cancelled
        try:
            proc.wait(timeout=min(remaining, 0.25))
            return False
        except subprocess.TimeoutExpired:
            ctx.log.flush()


def _pump(stream: IO[bytes] | None, ctx: StageContext, kind: LogStream) -> None:
    """Copy a pipe into the task log; keeps draining even if the log cannot be written, so the command never blocks."""
    if stream is None:
        return
    log_ok = True
    with contextlib.suppress(ValueError, OSError):  # the pipe was closed under us at the end
        for raw in iter(lambda: stream.readline(READ_CHUNK), b""):
            if not log_ok:
                continue
            try:
                ctx.log.write(raw.decode("utf-8", errors="replace"), kind)
            except Exception:
                log_ok = False
                log.exception("task %s: log write failed; the rest of its output is dropped", ctx.task.id)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def pipeline() -> Pipeline:
    return Pipeline(name="custom", stages=(Stage("run", run_command),))

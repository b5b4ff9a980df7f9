"""A running sandbox: commands, files and network, all through the Docker API (exec and archives)."""

from __future__ import annotations

import io
import logging
import tarfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import docker
import docker.errors
from docker.models.containers import Container
from docker.models.networks import Network

from core.sandboxing import ExecRequest, ExecResult, OutputSink, SandboxPolicy, SourceTree
from core.states import LogStream
from sandbox.command_wrapper import KILL_ALL, WRITABLE_PLACES, ReportReader, WrapperReport, full_places_in, wrap
from sandbox.errors import FileTooLargeError, SandboxError
from sandbox.output import BoundedOutput, LineSplitter

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 50 * 1024 * 1024
# Docker reports a path's mode as Go's os.FileMode: these high bits mark anything but a regular file.
_GO_MODE_TYPE_BITS = 0xFF000000
MAX_STREAMED_BYTES = 4 * 1024 * 1024  # what one command may put into the task log
SANDBOX_UID = 10001  # not a user on the host (uid 1000 often is)
_USER = f"{SANDBOX_UID}:{SANDBOX_UID}"


@dataclass(frozen=True, kw_only=True)
class FileEntry:
    name: str
    kind: str  # "file", "dir", "link", "other"
    size: int


class LiveSandbox:
    """A handle on a running sandbox. Commands in one sandbox run one at a time (per process): the
    clean-up after each command kills whatever is still running in it."""

    def __init__(
        self,
        sandbox_id: str,
        container: Container,
        policy: SandboxPolicy,
        network: Network,
        *,
        exec_lock: threading.Lock | None = None,
        on_use: Callable[[], None] | None = None,
        network_allowed: Callable[[], str | None] | None = None,
    ) -> None:
        self._id = sandbox_id
        self.container = container
        self.policy = policy
        self._network = network
        self._exec_lock = exec_lock or threading.Lock()
        self._on_use = on_use or (lambda: None)
        self._network_allowed = network_allowed or (lambda: None)
        self._api = container.client.api  # type: ignore[union-attr]

    @property
    def sandbox_id(self) -> str:
        return self._id

    # --- commands ---------------------------------------------------------------------------
    def exec(
        self, request: ExecRequest, *, output: OutputSink | None = None, cancelled: Callable[[], bool] | None = None
    ) -> ExecResult:
        """Run a shell command; stream its lines to `output`; kill every process it started at the timeout."""
        with self._exec_lock:
            self._on_use()
            try:
                return self._exec(request, output, cancelled)
            except docker.errors.NotFound:
                raise SandboxError(f"sandbox {self._id} is gone (destroyed while in use?)") from None
            finally:
                self._on_use()

    def _exec(
        self, request: ExecRequest, output: OutputSink | None, cancelled: Callable[[], bool] | None
    ) -> ExecResult:
        started = time.monotonic()
        wrapped = wrap(request)
        try:
            exec_id = self._api.exec_create(
                self.container.id,
                wrapped.argv,
                stdout=True,
                stderr=True,
                environment=dict(request.env),
                workdir=request.workdir,
                user=_USER,
            )["Id"]
            stream = self._api.exec_start(exec_id, stream=True, demux=True)
        except docker.errors.APIError as exc:
            raise SandboxError(f"sandbox {self._id}: cannot run a command: {exc.explanation or exc}") from None
        capture = _Capture(output, ReportReader(wrapped.tag))
        reader = threading.Thread(target=capture.drain, args=(stream,), daemon=True, name=f"exec-{self._id}")
        reader.start()
        timed_out = was_cancelled = False
        while reader.is_alive():
            if time.monotonic() - started > request.timeout_seconds:
                timed_out = True
            elif cancelled is not None and cancelled():
                was_cancelled = True
            if timed_out or was_cancelled:
                self._kill_everything()
                reader.join(10)
                break
            reader.join(0.1)
        capture.finish()
        exit_code = self._exit_code(exec_id)
        report = capture.reports.report()
        stopped = timed_out or was_cancelled
        if report is None or not _trusted(report, exit_code):
            said = report
            report = self._clean_up(request, exit_code, stopped, capture.reports.oom_kills_before)
            if said is not None and said.exit_code == exit_code:  # it finished, then the command died of a signal
                report.kill_rounds += said.kill_rounds
        oom = exit_code == 137 and not stopped and report.oom_kills > 0
        return ExecResult(
            exit_code=exit_code if exit_code is not None else -1,
            stdout=capture.stdout.text(),
            stderr=capture.stderr.text(),
            duration_seconds=round(time.monotonic() - started, 3),
            timed_out=timed_out,
            cancelled=was_cancelled,
            oom_killed=oom,
            disk_full=() if stopped or oom else report.full_places,
            truncated_bytes=capture.unstreamed,
            killed_leftovers=report.kill_rounds > 0,
        )

    def _clean_up(
        self, request: ExecRequest, exit_code: int | None, stopped: bool, oom_kills_before: int | None
    ) -> WrapperReport:
        """What the wrapper would have reported, found out by separate execs (it did not finish)."""
        rounds = 0 if request.keep_background else self._kill_everything()
        if stopped:
            return WrapperReport(exit_code or 0, rounds, 0, ())
        oom_kills = 0
        if exit_code == 137:
            oom_kills = self._oom_count() - (oom_kills_before or 0)
        full = self.full_places() if exit_code != 0 and oom_kills <= 0 else ()
        return WrapperReport(exit_code or 0, rounds, oom_kills, full)

    def _exit_code(self, exec_id: str) -> int | None:
        """The command's exit code. The stream can end a moment before the engine has recorded the exit
        (then it still says running, with no code): asked again for up to a second."""
        for _ in range(50):
            info = self._api.exec_inspect(exec_id)
            if not info.get("Running") and info.get("ExitCode") is not None:
                return int(info["ExitCode"])
            time.sleep(0.02)
        code = info.get("ExitCode")
        return int(code) if code is not None else None

    def run(self, command: str, *, timeout: float = 120.0) -> ExecResult:
        """A short helper command whose output is only returned, not streamed."""
        return self.exec(ExecRequest(command=command, timeout_seconds=timeout))

    def _kill_everything(self) -> int:
        """Kill all the sandbox's processes (but PID 1); the number of kill rounds it took (0: none was left).

        When not even the killer can start (a fork bomb holds every PID), the container is restarted: its
        workspace volume survives, its processes and /tmp do not.
        """
        for _ in range(5):
            try:
                kill = self._api.exec_create(self.container.id, ["/bin/sh", "-c", KILL_ALL], user=_USER)
                rounds = self._api.exec_start(kill["Id"]).decode(errors="replace").strip()
            except docker.errors.APIError as exc:
                log.debug("sandbox %s: kill could not start: %s", self._id, exc)
                time.sleep(0.1)
                continue
            if rounds.isdigit():
                return int(rounds)
            time.sleep(0.1)  # the shell could not even run its loop: PIDs exhausted
        log.warning("sandbox %s: processes could not be killed from inside; restarting it", self._id)
        try:
            self.container.restart(timeout=0)
        except docker.errors.APIError as exc:
            raise SandboxError(f"sandbox {self._id}: cannot restart it: {exc.explanation or exc}") from None
        return 1

    def full_places(self) -> tuple[str, ...]:
        """The writable places (/workspace, home, /tmp) with (next to) no space left."""
        try:
            exec_id = self._api.exec_create(self.container.id, ["df", "-Pk", *WRITABLE_PLACES], user=_USER)["Id"]
            text = self._api.exec_start(exec_id).decode("utf-8", "replace")
        except docker.errors.APIError:
            return ()
        return full_places_in(text)

    def _oom_count(self) -> int:
        """The cgroup's OOM-kill counter (v1 or v2); 0 when it cannot be read."""
        script = (
            "cat /sys/fs/cgroup/memory.events 2>/dev/null || cat /sys/fs/cgroup/memory/memory.oom_control 2>/dev/null"
        )
        try:
            exec_id = self._api.exec_create(self.container.id, ["/bin/sh", "-c", script], user=_USER)["Id"]
            text = self._api.exec_start(exec_id).decode("utf-8", "replace")
        except docker.errors.APIError:
            return 0
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
        return 0

    # --- network ----------------------------------------------------------------------------
    def set_network(self, enabled: bool) -> None:
        """Attach or detach the sandbox's only network; detached, it has nothing but loopback."""
        refusal = self._network_allowed() if enabled else None
        if refusal:
            raise SandboxError(f"sandbox {self._id}: {refusal}")
        networks = _networks_of(self.container)
        attached = self._network.name in networks
        try:
            if enabled and not attached:
                if "none" in networks:  # made without network: it cannot join one until it leaves "none"
                    self._api.disconnect_container_from_network(self.container.id, "none")
                self._network.connect(self.container)
            elif not enabled and attached:
                self._network.disconnect(self.container, force=True)
            self.container.reload()
        except docker.errors.APIError as exc:
            raise SandboxError(f"sandbox {self._id}: cannot change its network: {exc.explanation or exc}") from None

    @property
    def network_enabled(self) -> bool:
        """Whether the sandbox is on its network, as of the container's last listing or inspection."""
        return self._network.name in _networks_of(self.container, fresh=False)

    def load_tree(self, tree: SourceTree, *, keep: Sequence[str] = ()) -> None:
        from sandbox.workspace_tree import load_tree

        load_tree(self, tree, keep=keep)

    # --- files ------------------------------------------------------------------------------
    def write_file(self, path: str, data: bytes, *, mode: int = 0o644) -> None:
        if len(data) > MAX_FILE_BYTES:
            raise FileTooLargeError(f"{path}: {len(data)} bytes is over the {MAX_FILE_BYTES}-byte limit")
        target = PurePosixPath(path)
        archive = _tar({target.name: (data, mode)})
        self.put_archive(str(target.parent), archive)

    def put_archive(self, directory: str, archive: bytes | BinaryIO) -> None:
        try:
            ok = self.container.put_archive(directory, archive)
        except docker.errors.APIError as exc:
            raise SandboxError(f"sandbox {self._id}: cannot write into {directory}: {exc.explanation or exc}") from None
        if not ok:
            raise SandboxError(f"sandbox {self._id}: cannot write into {directory}")

    def read_file(self, path: str, *, max_bytes: int = MAX_FILE_BYTES) -> bytes:
        stream, stat = self._get_archive(path)
        if stat.get("mode", 0) & _GO_MODE_TYPE_BITS:  # a directory, link, device…: not a regular file
            raise SandboxError(f"sandbox {self._id}: {path} is not a regular file")
        if stat.get("size", 0) > max_bytes:
            raise FileTooLargeError(f"{path}: {stat['size']} bytes is over the {max_bytes}-byte limit")
        with tarfile.open(fileobj=io.BytesIO(_join(stream, max_bytes + 1024 * 1024)), mode="r|") as tar:
            for member in tar:
                if member.isfile() and member.name == PurePosixPath(path).name:
                    handle = tar.extractfile(member)
                    return handle.read() if handle is not None else b""
        raise SandboxError(f"sandbox {self._id}: {path} is not a regular file")

    def get_archive(self, path: str, *, max_bytes: int) -> bytes:
        """A path (file or tree) as a tar archive, refused when bigger than `max_bytes`."""
        stream, _ = self._get_archive(path)
        return _join(stream, max_bytes)

    def archive_to(self, path: str, destination: Path, *, max_bytes: int) -> int:
        """Stream a path's tar archive into a host file (never all in memory); its size in bytes."""
        stream, _ = self._get_archive(path)
        size = 0
        with destination.open("wb") as out:
            for chunk in stream:
                size += len(chunk)
                if size > max_bytes:
                    raise FileTooLargeError(f"{path}: archive is over the {max_bytes}-byte limit")
                out.write(chunk)
        return size

    def _get_archive(self, path: str) -> tuple[Iterator[bytes], dict[str, int]]:
        try:
            return self.container.get_archive(path)  # type: ignore[no-any-return]
        except docker.errors.NotFound:
            raise SandboxError(f"sandbox {self._id}: no such file {path}") from None
        except docker.errors.APIError as exc:
            raise SandboxError(f"sandbox {self._id}: cannot read {path}: {exc.explanation or exc}") from None

    def list_dir(self, path: str) -> list[FileEntry]:
        quoted = "'" + path.replace("'", "'\\''") + "'"
        result = self.run(f"find {quoted} -mindepth 1 -maxdepth 1 -printf '%y\\t%s\\t%f\\n'")
        if result.exit_code != 0:
            raise SandboxError(f"sandbox {self._id}: cannot list {path}: {result.stderr.strip()}")
        kinds = {"f": "file", "d": "dir", "l": "link"}
        entries = []
        for line in result.stdout.splitlines():
            kind, size, name = line.split("\t", 2)
            entries.append(FileEntry(name=name, kind=kinds.get(kind, "other"), size=int(size)))
        return sorted(entries, key=lambda e: e.name)


def _trusted(report: WrapperReport, exit_code: int | None) -> bool:
    """The wrapper's report stands when it finished and Docker agrees on the exit code. A wrapper that died
    of a signal (over 128: killed by the command, the OOM killer or the host's timeout) cleaned nothing up."""
    return exit_code is not None and report.exit_code == exit_code and exit_code < 128


class _Capture:
    """Consumes an exec's demultiplexed stream: bounded copies in memory, lines to the sink, up to a cap."""

    def __init__(self, sink: OutputSink | None, reports: ReportReader) -> None:
        self.sink = sink
        self.reports = reports
        self.stdout, self.stderr = BoundedOutput(), BoundedOutput()
        self._lines = {LogStream.STDOUT: LineSplitter(), LogStream.STDERR: LineSplitter()}
        self.streamed = 0
        self.unstreamed = 0
        self._notice_sent = False

    def drain(self, stream: Iterator[tuple[bytes | None, bytes | None]]) -> None:
        try:
            for out, err in stream:
                if out:
                    self.stdout.add(out)
                    self._emit(out, LogStream.STDOUT)
                if err:
                    err = self.reports.feed(err)
                if err:
                    self.stderr.add(err)
                    self._emit(err, LogStream.STDERR)
        except Exception as exc:  # the connection closes under us when the sandbox is killed
            log.debug("exec stream ended: %s", exc)

    def _emit(self, data: bytes, kind: LogStream) -> None:
        if self.sink is None:
            return
        if self.streamed >= MAX_STREAMED_BYTES:
            self.unstreamed += len(data)
            if not self._notice_sent:
                self._notice_sent = True
                self._send(f"[dockhand: output over {MAX_STREAMED_BYTES} bytes is not logged]", LogStream.SYSTEM)
            return
        self.streamed += len(data)
        for line in self._lines[kind].feed(data):
            self._send(line, kind)

    def finish(self) -> None:
        rest = self.reports.close()
        if rest:
            self.stderr.add(rest)
            self._emit(rest, LogStream.STDERR)
        if self.sink is None:
            return
        for kind, splitter in self._lines.items():
            for line in splitter.close():
                self._send(line, kind)
        if self.unstreamed:
            self._send(f"[dockhand: {self.unstreamed} bytes of output were not logged]", LogStream.SYSTEM)

    def _send(self, line: str, kind: LogStream) -> None:
        assert self.sink is not None
        try:
            self.sink(line, kind)
        except Exception:
            log.exception("output sink failed; dropping a line")


def _networks_of(container: Container, *, fresh: bool = True) -> set[str]:
    if fresh:
        container.reload()
    return set((container.attrs.get("NetworkSettings", {}).get("Networks") or {}).keys())


def _tar(files: dict[str, tuple[bytes, int]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, (content, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = mode
            info.uid = info.gid = SANDBOX_UID
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _join(stream: Iterator[bytes], limit: int) -> bytes:
    chunks, size = [], 0
    for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise FileTooLargeError(f"archive is over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)

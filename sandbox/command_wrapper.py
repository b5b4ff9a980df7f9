"""The shell wrapper every sandbox command runs in: one Docker exec per command, clean-up included.

The wrapper notes the cgroup's OOM-kill counter, runs the command under its in-sandbox deadline, then — in
the same exec — kills whatever the command left running and lists the writable places' free space when it
failed. It reports that on stderr lines marked with a random per-command tag, which `ReportReader` takes
out of the output before anyone sees it.

The report is a saving, not a trust boundary: the command can read the tag (from /proc) and print tagged
lines of its own, so only the wrapper's first line and its last `end` line count, the host checks the exit
code against Docker's, and whenever the wrapper did not finish for sure (an exit code over 128: it may
have been killed; or no report) the host cleans up and reads the OOM counter with separate execs as before.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field

from core.sandboxing import ExecRequest

# Every command also has its deadline inside the sandbox, a little after the host's own timer: it holds
# when nobody watches any more (the worker was killed). `timeout` signals the command's process group,
# then kills it; an image without `timeout -k` (an old busybox) runs the command unbounded there.
IN_SANDBOX_GRACE_SECONDS = 5
WRITABLE_PLACES = ("/workspace", "/home/sandbox", "/tmp")
# Kill every process of the sandbox user but PID 1 (the reaper) and this shell until none is left (kill -1
# fails once there is nothing to signal, i.e. once all are reaped); `k` counts the rounds (0: none was left).
KILL_LOOP = "k=0; while [ $k -lt 40 ] && kill -KILL -1 2>/dev/null; do k=$((k+1)); sleep 0.05; done"
KILL_ALL = KILL_LOOP + "; echo $k"  # the stand-alone clean-up exec

# $0 tag, $1 deadline seconds (0: none), $2 1 to leave background processes running, $3 the command.
_WRAPPER = (
    "t=$0; d=$1; keep=$2\n"
    "oomk() { o=0; for f in /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control; do\n"
    '  if [ -r "$f" ]; then while read -r a b; do [ "$a" = oom_kill ] && o=$b; done < "$f"; break; fi; done; }\n'
    'oomk; b=$o; printf \'%s start %s\\n\' "$t" "$b" >&2\n'
    # Whether `timeout -k` works is asked once per sandbox (a mark in its /tmp): two processes fewer a command.
    'if [ "$d" != 0 ] && { [ -e /tmp/.dockhand-timeout-k ] || { timeout -k 1 5 true >/dev/null 2>&1 && '
    ': > /tmp/.dockhand-timeout-k; }; }; then timeout -k 5 "$d" /bin/sh -c "$3"\n'
    'else /bin/sh -c "$3"; fi\n'
    "rc=$?; k=0\n"
    f'if [ "$keep" != 1 ]; then {KILL_LOOP}; fi\n'
    'if [ "$rc" != 0 ]; then df -Pk ' + " ".join(WRITABLE_PLACES) + " 2>/dev/null | "
    'while read -r _ size _ free _ at; do printf \'%s df %s %s %s\\n\' "$t" "$size" "$free" "$at" >&2; done; fi\n'
    'printf \'%s end %s %s\\n\' "$t" "$rc" "$k" >&2\n'
    'exit "$rc"'
)
_TAG_START = b"\x1edockhand-"
MAX_REPORT_LINE = 256  # longer after a tag, without a newline: ordinary output (the sandbox can read tags)


@dataclass
class WrapperReport:
    """What the wrapper said after the command: its exit code, kill rounds, OOM kills meanwhile (only ever
    counted by the host: an exit by SIGKILL is not the wrapper's to vouch for), full places."""

    exit_code: int
    kill_rounds: int
    oom_kills: int
    full_places: tuple[str, ...]


@dataclass(frozen=True)
class WrappedCommand:
    argv: list[str]
    tag: bytes


def wrap(request: ExecRequest) -> WrappedCommand:
    """The exec argv of a command: the wrapper, a fresh tag, the deadline, whether to keep background work."""
    tag = _TAG_START + secrets.token_hex(8).encode()
    seconds = 0
    if math.isfinite(request.timeout_seconds):
        seconds = math.ceil(request.timeout_seconds) + IN_SANDBOX_GRACE_SECONDS
    keep = "1" if request.keep_background else "0"
    return WrappedCommand(["/bin/sh", "-c", _WRAPPER, tag.decode(), str(seconds), keep, request.command], tag)


@dataclass
class ReportReader:
    """Takes the wrapper's tagged lines out of a stderr stream; passes everything else on, unchanged."""

    tag: bytes
    _pending: bytearray = field(default_factory=bytearray)
    _lines: list[str] = field(default_factory=list)
    oom_kills_before: int | None = None  # the cgroup's OOM-kill counter as the command started

    def feed(self, data: bytes) -> bytes:
        self._pending += data
        passed = bytearray()
        while True:
            at = self._pending.find(self.tag)
            if at == -1:
                keep = _partial_tag_length(self._pending, self.tag)
                cut = len(self._pending) - keep
                passed += self._pending[:cut]
                del self._pending[:cut]
                return bytes(passed)
            passed += self._pending[:at]
            del self._pending[:at]
            end = self._pending.find(b"\n", 0, MAX_REPORT_LINE)
            if end == -1:
                if len(self._pending) < MAX_REPORT_LINE:
                    return bytes(passed)  # the rest of a report line is on its way
                passed += self._pending[: len(self.tag)]  # no report line is that long: output, as it is
                del self._pending[: len(self.tag)]
                continue
            self._take(self._pending[len(self.tag) : end].decode("utf-8", "replace").strip())
            del self._pending[: end + 1]

    def _take(self, line: str) -> None:
        kind, _, rest = line.partition(" ")
        if kind == "start":  # the wrapper's own comes first, before the command can print anything
            if self.oom_kills_before is None and rest.isdigit():
                self.oom_kills_before = int(rest)
        else:
            self._lines.append(line)

    def close(self) -> bytes:
        """What was held back (the start of a tag that never finished)."""
        rest, self._pending = bytes(self._pending), bytearray()
        return rest

    def report(self) -> WrapperReport | None:
        """The wrapper's report, or None when it did not finish (killed, or the stream was cut). The command
        can print tagged lines too: the wrapper's are the last `end` line and the `df` lines just before it
        (an `end` the command printed is followed by the wrapper's own, or the wrapper did not finish)."""
        ends = [i for i, line in enumerate(self._lines) if line.startswith("end ")]
        if not ends:
            return None
        fields = self._lines[ends[-1]].split()[1:]
        if len(fields) != 2 or not all(f.isdigit() for f in fields):
            return None
        full: list[str] = []
        for line in reversed(self._lines[: ends[-1]]):
            kind, *df = line.split()
            if kind != "df":
                break
            if len(df) == 3 and df[0].isdigit() and df[1].isdigit() and is_full(int(df[0]), int(df[1])):
                full.insert(0, df[2])
        return WrapperReport(int(fields[0]), int(fields[1]), 0, tuple(full))


def is_full(size_kib: int, free_kib: int) -> bool:
    """A place with (next to) no space left: under 1 MiB or 0.5% free."""
    return size_kib > 0 and free_kib < max(1024, size_kib // 200)


def full_places_in(df_output: str) -> tuple[str, ...]:
    """The places with (next to) no space left in `df -Pk` output."""
    full = []
    for line in df_output.splitlines()[1:]:  # Filesystem 1024-blocks Used Available Capacity Mounted-on
        fields = line.split()
        if len(fields) >= 6 and fields[1].isdigit() and fields[3].isdigit() and is_full(int(fields[1]), int(fields[3])):
            full.append(fields[5])
    return tuple(full)


def _partial_tag_length(data: bytearray, tag: bytes) -> int:
    """How many bytes at the end of `data` could be the start of a tag still arriving."""
    for size in range(min(len(tag) - 1, len(data)), 0, -1):
        if data.endswith(tag[:size]):
            return size
    return 0

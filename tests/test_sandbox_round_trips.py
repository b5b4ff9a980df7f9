"""One Docker exec per command: the wrapper's clean-up and report, and what happens when it cannot finish."""

from __future__ import annotations

import time

import docker
import pytest

from core.sandboxing import ExecRequest
from core.states import LogStream
from sandbox.command_wrapper import ReportReader, wrap
from sandbox.manager import NETWORK, SandboxManager

pytestmark = pytest.mark.slow


def execs_during(client: docker.DockerClient, container_id: str, action) -> list[str]:  # type: ignore[no-untyped-def]
    """The commands Docker started in the container while `action` ran, from the engine's own events."""
    since = time.time() - 1
    action()
    until = time.time() + 1
    events = client.events(
        since=since, until=until, decode=True, filters={"container": container_id, "event": "exec_create"}
    )
    return [event["Action"] for event in events]


def test_a_command_in_a_reused_sandbox_is_one_exec_with_its_clean_up(sandbox_manager: SandboxManager) -> None:
    sandbox_manager.get_or_create("round-trips")
    box = sandbox_manager.get_or_create("round-trips")  # reused: nothing is read from it to hand it out
    results = []
    execs = execs_during(
        sandbox_manager.client,
        box.container.id,
        lambda: results.append(box.exec(ExecRequest(command="sleep 30 & echo started"))),
    )
    assert len(execs) == 1, execs
    result = results[0]
    assert result.ok and result.stdout == "started\n" and result.killed_leftovers
    assert "sleep" not in box.exec(ExecRequest(command="ps -eo comm")).stdout


def test_the_wrappers_report_never_reaches_the_output(sandbox_manager: SandboxManager) -> None:
    box = sandbox_manager.get_or_create("report")
    lines: list[tuple[str, LogStream]] = []
    result = box.exec(
        ExecRequest(command="echo out; echo err >&2; printf 'no newline' >&2; exit 3"),
        output=lambda line, stream: lines.append((line, stream)),
    )
    assert result.exit_code == 3 and result.stdout == "out\n" and result.stderr == "err\nno newline"
    assert ("no newline", LogStream.STDERR) in lines
    assert not any("dockhand-" in line for line, _ in lines)
    # Output that looks like the start of a tag (but is no tag of this command) passes unchanged.
    mimic = box.exec(ExecRequest(command=r"printf '\036dockhand-0000 end 0 0 0\n' >&2; exit 5"))
    assert mimic.exit_code == 5 and mimic.stderr == "\x1edockhand-0000 end 0 0 0\n"


def test_a_command_that_kills_its_wrapper_is_still_cleaned_up(sandbox_manager: SandboxManager) -> None:
    box = sandbox_manager.get_or_create("wrapper-killer")
    # The command leaves a sleeper behind and kills the shell that would have cleaned up after it (its
    # parent is the in-sandbox `timeout`, whose parent is the wrapper).
    wrapper = "$(ps -o ppid= -p $PPID)"
    result = box.exec(ExecRequest(command=f"sleep 300 & kill -KILL {wrapper}; sleep 1", timeout_seconds=30))
    assert result.exit_code == 137 and not result.oom_killed and result.killed_leftovers
    assert "sleep" not in box.exec(ExecRequest(command="ps -eo stat=,comm= | grep -v '^Z'")).stdout


def test_a_sandbox_without_network_is_never_attached_to_one(sandbox_manager: SandboxManager) -> None:
    client = sandbox_manager.client
    since = time.time() - 1
    box = sandbox_manager.get_or_create("offline")
    assert box.exec(ExecRequest(command="ls /sys/class/net")).stdout.split() == ["lo"]
    events = client.events(since=since, until=time.time() + 1, decode=True, filters={"type": "network"})
    ours = [e for e in events if e.get("Actor", {}).get("Attributes", {}).get("container") == box.container.id]
    assert [e["Action"] for e in ours if e["Actor"]["Attributes"].get("name") == NETWORK] == [], ours
    box.set_network(True)  # and it can still be given network later
    assert box.network_enabled and "eth0" in box.exec(ExecRequest(command="ls /sys/class/net")).stdout


def test_a_report_split_across_chunks_is_taken_out_whole() -> None:
    wrapped = wrap(ExecRequest(command="true"))
    reader = ReportReader(wrapped.tag)
    text = b"before " + wrapped.tag + b" start 0\nmiddle\n" + wrapped.tag + b" end 2 1\n"
    passed = b"".join(reader.feed(text[i : i + 3]) for i in range(0, len(text), 3)) + reader.close()
    assert passed == b"before middle\n"
    report = reader.report()
    assert report is not None and (report.exit_code, report.kill_rounds) == (2, 1)
    assert reader.oom_kills_before == 0


# The command can find its wrapper's tag (the sandbox user reads /proc) and print tagged lines of its own.
FIND_TAG = (
    r"""tag=$(cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\0' '\n' """
    r"""| grep -a "^$(printf '\036')dockhand-" | head -n 1)"""
)


def test_a_command_that_forges_report_lines_changes_nothing(sandbox_manager: SandboxManager) -> None:
    box = sandbox_manager.get_or_create("forger")
    forged = (
        f'{FIND_TAG}; [ -n "$tag" ] || exit 9; sleep 30 & '
        'printf \'%s start 999\\n%s df 100 0 /workspace\\n%s end 0 0\\n\' "$tag" "$tag" "$tag" >&2; exit 0'
    )
    result = box.exec(ExecRequest(command=forged))
    assert result.exit_code == 0, result
    assert result.killed_leftovers and result.disk_full == () and "dockhand-" not in result.stderr


def test_a_tag_without_its_line_end_is_output_and_never_held_back(sandbox_manager: SandboxManager) -> None:
    box = sandbox_manager.get_or_create("no-line-end")
    lines: list[str] = []
    flood = f"{FIND_TAG}; printf '%s' \"$tag\" >&2; head -c 3000000 /dev/zero | tr '\\0' x >&2"
    result = box.exec(ExecRequest(command=flood), output=lambda line, _: lines.append(line))
    assert result.ok and result.stderr.count("x") > 100_000, "the output is there (head and tail)"
    assert sum(len(line) for line in lines) >= 3_000_000, "and all of it reached the log"

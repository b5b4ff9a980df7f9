"""Sandboxes on the real Docker engine: hardening, reuse, exec, files, network, hostile commands."""

from __future__ import annotations

import subprocess
import time
from datetime import timedelta

import pytest

from core.models import Sandbox, utcnow
from core.sandboxing import ExecRequest
from core.states import LogStream
from sandbox.command_wrapper import wrap
from sandbox.disk import DiskLimitMode
from sandbox.errors import FileTooLargeError, SandboxError, SandboxNotFoundError
from sandbox.live import MAX_STREAMED_BYTES
from sandbox.manager import SandboxManager
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


def run(box, command: str, **kw):  # type: ignore[no-untyped-def]
    return box.exec(ExecRequest(command=command, **kw))


def test_a_sandbox_is_locked_down(sandbox_manager: SandboxManager) -> None:
    box = sandbox_manager.get_or_create("hardening")
    attrs = box.container.attrs
    host = attrs["HostConfig"]
    assert attrs["Config"]["User"] == "10001:10001"
    assert host["CapDrop"] == ["ALL"] and not host.get("CapAdd")
    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert host["Privileged"] is False and host["ReadonlyRootfs"] is True
    assert host["PidsLimit"] == 512 and host["Memory"] == 2 * 1024**3 and host["NanoCpus"] == 2 * 10**9
    assert set(host["Tmpfs"]) == {"/tmp"}
    mounts = attrs["Mounts"]
    assert sorted(m["Destination"] for m in mounts) == ["/home/sandbox", "/workspace"]
    assert all(m["Type"] == "volume" for m in mounts)
    assert not any("docker.sock" in str(m) for m in mounts) and not any("docker.sock" in b for b in host["Binds"] or [])
    assert box.network_enabled is False

    inside = run(
        box,
        "id -u; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; touch /etc/x 2>&1; touch /workspace/ok "
        "&& echo ws-ok; touch /tmp/ok && echo tmp-ok; ls /var/run/docker.sock 2>&1",
    )
    lines = inside.stdout.splitlines()
    assert lines[0] == "10001"
    assert "CapEff:\t0000000000000000" in lines and "NoNewPrivs:\t1" in lines
    assert "Read-only file system" in inside.stdout and "ws-ok" in lines and "tmp-ok" in lines
    assert "No such file" in inside.stdout


def test_get_or_create_reuses_by_id_and_destroy_removes_everything(sandbox_manager: SandboxManager) -> None:
    first = sandbox_manager.get_or_create("issue-acme-api-12")
    run(first, "echo kept > /workspace/state")
    again = sandbox_manager.get_or_create("issue-acme-api-12")
    assert again.container.id == first.container.id
    assert run(again, "cat /workspace/state").stdout == "kept\n"
    assert [s.id for s in sandbox_manager.list()] == ["issue-acme-api-12"]
    volumes = [m["Name"] for m in first.container.attrs["Mounts"]]
    sandbox_manager.destroy("issue-acme-api-12")
    assert sandbox_manager.list() == []
    for volume in volumes:
        assert not sandbox_manager.client.volumes.list(filters={"name": volume})
    with pytest.raises(SandboxNotFoundError):
        sandbox_manager.destroy("issue-acme-api-12")
    with pytest.raises(SandboxError, match="invalid sandbox id"):
        sandbox_manager.get_or_create("../etc")


def test_exec_streams_lines_and_returns_everything(sandbox_manager: SandboxManager) -> None:
    box = sandbox_manager.get_or_create("exec")
    seen: list[tuple[LogStream, str]] = []
    result = box.exec(
        ExecRequest(
            command='echo one; echo two >&2; echo "$GREETING from $(pwd)"; exit 3',
            workdir="/tmp",
            env={"GREETING": "hello"},
        ),
        output=lambda line, stream: seen.append((stream, line)),
    )
    assert result.exit_code == 3 and not result.ok
    assert result.stdout == "one\nhello from /tmp\n" and result.stderr == "two\n"
    assert (LogStream.STDOUT, "one") in seen and (LogStream.STDERR, "two") in seen
    assert seen.index((LogStream.STDOUT, "one")) < seen.index((LogStream.STDOUT, "hello from /tmp"))
    assert result.duration_seconds > 0


def test_what_a_command_leaves_running_is_killed_and_reported(sandbox_manager: SandboxManager) -> None:
    box = sandbox_manager.get_or_create("leftovers")
    result = run(box, "sleep 300 > /dev/null 2>&1 & echo started")
    assert result.ok and result.killed_leftovers and result.stdout == "started\n"
    assert "sleep" not in run(box, "ps -eo comm").stdout
    assert not run(box, "true").killed_leftovers


def test_timeout_kills_the_whole_process_tree(sandbox_manager: SandboxManager) -> None:
    box = sandbox_manager.get_or_create("timeout")
    started = time.monotonic()
    result = run(box, "sh -c 'sleep 300' & setsid sleep 300 & sleep 300", timeout_seconds=1)
    assert result.timed_out and time.monotonic() - started < 10
    # The sandbox's PID 1 reaps the killed processes.
    wait_for(lambda: "sleep" not in run(box, "ps -eo comm").stdout, timeout=5, what="no sleep left")


def test_a_command_without_a_finite_timeout_runs_unbounded() -> None:
    unbounded, bounded = (wrap(ExecRequest(command="true", timeout_seconds=t)).argv for t in (float("inf"), 1.2))
    assert unbounded[4] == "0" and unbounded[-1] == "true"
    assert bounded[4] == "7"


def test_a_command_s_deadline_holds_in_the_sandbox_when_nobody_watches(sandbox_manager: SandboxManager) -> None:
    """As after a worker was killed: the exec is started and never looked at again."""
    box = sandbox_manager.get_or_create("unwatched")
    api = box.container.client.api
    request = ExecRequest(command="sh -c 'sleep 300' & sleep 300", timeout_seconds=1)
    exec_id = api.exec_create(box.container.id, wrap(request).argv, user="10001:10001")["Id"]
    api.exec_start(exec_id, detach=True)
    wait_for(lambda: "sleep" in run(box, "ps -eo comm", keep_background=True).stdout, timeout=5, what="it to run")
    wait_for(lambda: not api.exec_inspect(exec_id)["Running"], timeout=15, what="its deadline inside the sandbox")
    assert api.exec_inspect(exec_id)["ExitCode"] == 124
    # The command's whole process group is gone (zombies until the sandbox's PID 1 reaps them).
    alive = run(box, "ps -eo stat=,comm= | grep -v '^Z'", keep_background=True).stdout
    assert "sleep" not in alive, alive


def test_a_sandbox_that_fills_its_disk_limit_stops_there(sandbox_manager: SandboxManager) -> None:
    assert sandbox_manager.disks.support.mode is DiskLimitMode.LOOP_FILESYSTEM, sandbox_manager.disks.support
    box = sandbox_manager.get_or_create("filler", sandbox_manager.default_policy().with_overrides(disk="1g"))
    sizes = run(box, "df -Pk /workspace /home/sandbox | tail -n 2").stdout.split("\n")
    assert all(0.9 * 1024**2 < int(line.split()[1]) <= 1024**2 for line in sizes if line), sizes

    filled = run(box, "head -c 2G /dev/zero > /workspace/big", timeout_seconds=120)
    assert not filled.ok and filled.disk_full == ("/workspace",)
    assert filled.describe() == "failed: disk limit reached (/workspace full)"
    assert "No space left on device" in filled.stderr
    images = list(sandbox_manager.disks.directory.glob("*.img"))  # type: ignore[union-attr]
    assert len(images) == 2 and all(i.stat().st_blocks * 512 <= 1024**3 for i in images), "the host gave at most 1g"
    assert run(box, "rm /workspace/big && echo ok > /workspace/small && cat /workspace/small").stdout == "ok\n"
    home = run(box, "head -c 1100M /dev/zero > ~/big", timeout_seconds=120)
    assert home.disk_full == ("/home/sandbox",)

    sandbox_manager.destroy("filler")
    assert not any(i.exists() for i in images), "the filesystems are gone with the sandbox"
    attached = subprocess.run(["losetup", "--list", "--noheadings", "--output", "BACK-FILE"], capture_output=True)
    assert not any(str(i) in attached.stdout.decode() for i in images), "their loop devices are detached"


def test_a_stopped_sandbox_whose_loop_device_moved_is_made_afresh(sandbox_manager: SandboxManager) -> None:
    """As after a reboot: /dev/loopN no longer backs the sandbox's own filesystem, so it must not be mounted."""
    box = sandbox_manager.get_or_create("rebooted", sandbox_manager.default_policy().with_overrides(disk="64m"))
    run(box, "echo mine > /workspace/file")
    box.container.stop(timeout=0)
    volume = next(m["Name"] for m in box.container.attrs["Mounts"] if m["Destination"] == "/workspace")
    device = sandbox_manager.client.volumes.get(volume).attrs["Options"]["device"]
    subprocess.run(["losetup", "--detach", device], check=True)
    assert not sandbox_manager.disks.intact(volume)
    again = sandbox_manager.get_or_create("rebooted", sandbox_manager.default_policy().with_overrides(disk="64m"))
    assert again.container.id != box.container.id
    assert run(again, "ls /workspace; df -Pk /workspace | tail -n 1").ok


def test_hostile_commands_are_contained(sandbox_manager: SandboxManager) -> None:
    policy = sandbox_manager.default_policy().with_overrides(memory="256m", pids=128)
    box = sandbox_manager.get_or_create("hostile", policy)
    neighbour = sandbox_manager.get_or_create("neighbour")

    classic = run(box, "bomb() { bomb | bomb & }; bomb", timeout_seconds=4)
    assert "cannot fork" in classic.stderr.lower(), "the PID limit stops it"
    hoarder = run(box, "while :; do sleep 100 & done", timeout_seconds=4)
    assert hoarder.exit_code != 0 and "fork" in hoarder.stderr.lower()
    wait_for(lambda: "sleep" not in run(box, "ps -eo comm").stdout, timeout=10, what="the hoarded sleeps to be gone")
    hog = run(box, "python3 -c 'b = bytearray(1024**3); print(len(b))'", timeout_seconds=60)
    assert hog.exit_code == 137 and hog.oom_killed and hog.describe() == "killed: out of memory"
    lines: list[str] = []
    flood = box.exec(ExecRequest(command="yes dockhand", timeout_seconds=3), output=lambda line, _: lines.append(line))
    assert flood.timed_out and flood.truncated_bytes > 0
    assert len(flood.stdout) < 200_000, "kept output is bounded"
    assert sum(len(line) + 1 for line in lines) < MAX_STREAMED_BYTES + 65_536, "logged output is capped"
    sleeper = run(box, "sleep infinity", timeout_seconds=1)
    assert sleeper.timed_out

    # Afterwards the sandbox itself and its neighbour still work.
    assert run(box, "echo alive").stdout == "alive\n"
    assert run(neighbour, "echo fine").stdout == "fine\n"


def test_files_are_binary_safe_and_limited(sandbox_manager: SandboxManager) -> None:
    box = sandbox_manager.get_or_create("files")
    blob = bytes(range(256)) * 100
    box.write_file("/workspace/data.bin", blob)
    box.write_file("/workspace/run.sh", b"#!/bin/sh\necho ran\n", mode=0o755)
    assert box.read_file("/workspace/data.bin") == blob
    assert run(box, "./run.sh").stdout == "ran\n"
    assert run(box, "stat -c %u /workspace/data.bin").stdout == "10001\n"
    names = {(e.name, e.kind, e.size) for e in box.list_dir("/workspace")}
    assert ("data.bin", "file", len(blob)) in names and ("run.sh", "file", 19) in names
    with pytest.raises(FileTooLargeError):
        box.read_file("/workspace/data.bin", max_bytes=100)
    with pytest.raises(SandboxError, match="no such file"):
        box.read_file("/workspace/missing")
    with pytest.raises(SandboxError):
        box.write_file("/etc/passwd-new", b"x")  # read-only root


def test_network_is_off_unless_asked_for(sandbox_manager: SandboxManager) -> None:
    # `timeout`: with no network, name resolution would otherwise wait for its own long time-outs.
    probe = (
        "timeout 3 python3 -c \"import urllib.request as u; print(u.urlopen('http://deb.debian.org/debian/').status)\""
    )
    box = sandbox_manager.get_or_create("net")
    assert run(box, probe, timeout_seconds=30).exit_code != 0
    box.set_network(True)
    assert run(box, probe, timeout_seconds=30).stdout.strip() == "200"
    box.set_network(False)
    assert run(box, probe, timeout_seconds=30).exit_code != 0


def test_idle_sandboxes_and_orphans_are_removed(sandbox_manager: SandboxManager) -> None:
    sandbox_manager.get_or_create("idle")
    sandbox_manager.get_or_create("busy")
    with sandbox_manager.records.db.write() as session:
        row = session.get(Sandbox, "idle")
        assert row is not None
        row.last_used_at = utcnow() - timedelta(hours=2)
    assert sandbox_manager.reap_idle(3600) == ["idle"]
    assert [s.id for s in sandbox_manager.list()] == ["busy"]

    with sandbox_manager.records.db.write() as session:  # the store forgot it: a container left by a crash
        row = session.get(Sandbox, "busy")
        session.delete(row)
    assert sandbox_manager.cleanup_orphans() == ["busy"]
    assert sandbox_manager.list() == []


def test_the_sandbox_network_is_firewalled_off_this_host_and_private_ranges(
    sandbox_manager: SandboxManager,
) -> None:
    import subprocess

    from sandbox.firewall import BLOCKED_RANGES, bridge_name

    box = sandbox_manager.get_or_create("firewalled")
    assert sandbox_manager.isolation_error is None
    bridge = bridge_name(box._network)
    rules = subprocess.run(["iptables", "-S"], capture_output=True, text=True, check=True).stdout
    assert f"-A INPUT -i {bridge} -j DROP" in rules
    for cidr in BLOCKED_RANGES:
        assert f"-A DOCKER-USER -d {cidr} -i {bridge} -j DROP" in rules


def test_commands_in_one_sandbox_take_turns(sandbox_manager: SandboxManager) -> None:
    import threading

    box = sandbox_manager.get_or_create("turns")
    results = {}

    def slow() -> None:
        results["slow"] = run(box, "sleep 1; echo done")

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.2)
    results["quick"] = run(box, "echo quick")
    thread.join()
    assert results["slow"].stdout == "done\n" and results["quick"].stdout == "quick\n"


def test_a_busy_sandbox_is_not_reaped(sandbox_manager: SandboxManager) -> None:
    import threading

    box = sandbox_manager.get_or_create("busy-long")
    thread = threading.Thread(target=lambda: run(box, "sleep 2"))
    thread.start()
    time.sleep(0.5)
    with sandbox_manager.records.db.write() as session:
        row = session.get(Sandbox, "busy-long")
        assert row is not None
        row.last_used_at = utcnow() - timedelta(hours=2)
    assert sandbox_manager.reap_idle(3600) == []
    thread.join()
    assert [s.id for s in sandbox_manager.list()] == ["busy-long"]


def test_reading_a_directory_as_a_file_is_refused(sandbox_manager: SandboxManager) -> None:
    box = sandbox_manager.get_or_create("dir-read")
    run(box, "mkdir -p sub && echo x > sub/inner")
    with pytest.raises(SandboxError, match="not a regular file"):
        box.read_file("/workspace/sub")


def test_a_failed_create_leaves_no_volumes(sandbox_manager: SandboxManager) -> None:
    bad = sandbox_manager.default_policy().with_overrides(image="dockhand-no-such-image:never")
    with pytest.raises(SandboxError, match="dockhand image build"):
        sandbox_manager.get_or_create("no-image", bad)
    leftovers = sandbox_manager.client.volumes.list(filters={"label": f"dockhand.instance={sandbox_manager.instance}"})
    assert leftovers == []


def test_network_is_refused_when_it_cannot_be_isolated(sandbox_manager: SandboxManager) -> None:
    box = sandbox_manager.get_or_create("no-isolation")
    sandbox_manager.isolation_error = "iptables is not installed"  # as on a host where dockhand is not root
    with pytest.raises(SandboxError, match="DOCKHAND_SANDBOX_UNISOLATED_NETWORK"):
        box.set_network(True)
    box.set_network(False)  # turning it off is always allowed
    sandbox_manager.allow_unisolated_network = True
    box.set_network(True)
    assert box.network_enabled

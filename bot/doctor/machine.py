"""Checks of this machine: Python and the packages, the database, Docker (image, firewall, disk limit),
the data directory."""

from __future__ import annotations

import importlib.metadata
import os
import stat
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from core.settings import Settings

if TYPE_CHECKING:
    import docker

from bot.doctor.report import Check, CheckState, short_error

PACKAGES = ("slack-bolt", "textual", "anthropic", "PyGithub", "docker", "APScheduler", "sqlmodel", "cryptography")


def check_python(settings: Settings) -> Iterator[Check]:
    yield Check("python", "version", CheckState.OK, "Python " + ".".join(map(str, sys.version_info[:3])))
    found, missing = [], []
    for name in PACKAGES:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    if missing:
        yield Check("python", "packages", CheckState.FAIL, f"missing: {', '.join(missing)}", "run scripts/setup")
    else:
        yield Check("python", "packages", CheckState.OK, ", ".join(found))


def check_database(settings: Settings) -> Iterator[Check]:
    from core.migrate import head_revision
    from core.store.probe import probe_database

    probe = probe_database(settings.effective_database_url)
    if probe.missing_file is not None:
        yield Check(
            "database",
            "reachable",
            CheckState.FAIL,
            f"no database at {probe.missing_file}",
            "run `dockhand db upgrade` (or start `dockhand serve`, which does it)",
        )
        return
    if probe.error is not None:
        yield Check(
            "database",
            "reachable",
            CheckState.FAIL,
            f"{probe.shown}: {probe.error}",
            "start the database server, or fix DOCKHAND_DATABASE_URL",
        )
        return
    yield Check("database", "reachable", CheckState.OK, probe.shown)
    head = head_revision()
    if probe.revision == head:
        yield Check("database", "migrations", CheckState.OK, f"at {head}")
    else:
        yield Check(
            "database",
            "migrations",
            CheckState.FAIL,
            f"at {probe.revision or 'none'}, code expects {head}",
            "run `dockhand db upgrade` (serve does it on start)",
        )


def check_docker(settings: Settings) -> Iterator[Check]:
    import docker

    from sandbox.errors import DockerUnavailableError
    from sandbox.firewall import IsolationError, missing_rules
    from sandbox.image import IMAGE_REPOSITORY
    from sandbox.manager import NETWORK, connect_docker

    try:
        client = connect_docker()
    except DockerUnavailableError as exc:
        yield Check(
            "docker",
            "reachable",
            CheckState.FAIL,
            short_error(exc),
            "start the Docker engine (e.g. `scripts/services docker` as root) or set DOCKER_HOST",
        )
        return
    try:
        version = client.version().get("Version", "?")
        security = client.info().get("SecurityOptions") or []
        rootless = any("rootless" in str(option) for option in security)
        yield Check("docker", "reachable", CheckState.OK, f"engine {version}, {'rootless' if rootless else 'rootful'}")
        image = settings.sandbox_image or f"{IMAGE_REPOSITORY}:latest"
        try:
            client.images.get(image)
            yield Check("docker", "sandbox image", CheckState.OK, image)
        except docker.errors.ImageNotFound:
            fix = "run `dockhand image build`" if not settings.sandbox_image else f"pull or build {image}"
            yield Check("docker", "sandbox image", CheckState.FAIL, f"{image} is not on this engine", fix)
        networks = [n for n in client.networks.list(names=[NETWORK]) if n.name == NETWORK]
        if not networks:
            yield Check(
                "docker",
                "firewall",
                CheckState.WARN,
                f"network {NETWORK} not made yet",
                "it and its rules are made when the first sandbox starts (as root)",
            )
        elif rootless:
            yield Check("docker", "firewall", CheckState.SKIP, "rootless engine: its network is not the host's")
        else:
            try:
                missing = missing_rules(networks[0])
            except IsolationError as exc:
                missing = [str(exc)]
            if missing:
                yield Check(
                    "docker",
                    "firewall",
                    CheckState.WARN,
                    f"{len(missing)} isolation rule(s) missing",
                    "start dockhand as root once (it adds them), or accept DOCKHAND_SANDBOX_UNISOLATED_NETWORK",
                )
            else:
                yield Check("docker", "firewall", CheckState.OK, "sandboxes cannot reach this host or private ranges")
        yield _disk_limit(settings, client)
    finally:
        client.close()


def _disk_limit(settings: Settings, client: docker.DockerClient) -> Check:
    from core.sandboxing import size_in_bytes
    from sandbox.disk import DiskLimitMode, SandboxDisks
    from sandbox.live import SANDBOX_UID

    limit = settings.sandbox_disk_limit
    if size_in_bytes(limit) == 0:
        return Check("docker", "disk limit", CheckState.WARN, "DOCKHAND_SANDBOX_DISK_LIMIT=0: no limit")
    support = SandboxDisks(client, settings.data_dir / "sandbox-disks", owner_uid=SANDBOX_UID).support
    if support.mode is DiskLimitMode.NONE:
        return Check(
            "docker",
            "disk limit",
            CheckState.WARN,
            f"not enforced: {support.reason}",
            "run dockhand as root on the engine's host (with e2fsprogs), or keep Docker's volumes on XFS with pquota",
        )
    return Check("docker", "disk limit", CheckState.OK, f"{limit} per sandbox volume ({support.mode.value})")


def check_data_dir(settings: Settings) -> Iterator[Check]:
    from core.api_token import token_path
    from core.secrets import key_file

    folder = settings.data_dir
    if not folder.is_dir():
        yield Check(
            "data",
            "directory",
            CheckState.WARN,
            f"{folder} does not exist yet",
            "it is made on first use; or set DOCKHAND_DATA_DIR",
        )
        return
    if not os.access(folder, os.W_OK):
        yield Check("data", "directory", CheckState.FAIL, f"{folder} is not writable", f"chown it to {_user()}")
    elif folder.stat().st_mode & stat.S_IWOTH:
        yield Check("data", "directory", CheckState.FAIL, f"{folder} is writable by anyone", f"chmod o-w {folder}")
    elif folder.stat().st_mode & 0o077:
        yield Check("data", "directory", CheckState.WARN, f"{folder} is open to other local users (task logs, "
                    "payloads and the audit trail are in it)", f"chmod 700 {folder}")  # fmt: skip
    else:
        yield Check("data", "directory", CheckState.OK, str(folder))
    for name, path in (("master key", key_file(folder)), ("API token", token_path(settings))):
        if not path.exists():
            continue
        if path.stat().st_mode & 0o077:
            yield Check("data", name, CheckState.FAIL, f"{path} is readable by others", f"chmod 600 {path}")
        else:
            yield Check("data", name, CheckState.OK, f"{path} (owner only)")


# --- the cloud services -------------------------------------------------------------------------


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return "the user dockhand runs as"

"""Deploying dockhand: the Dockerfile builds (from the Debian base dockhand builds for its sandboxes, so no
registry is needed) and the image runs the CLI; compose.yaml is valid for docker-compose; the systemd unit
is well formed (and verified by systemd-analyze where systemd is installed)."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import HOST_CA_BUNDLE, REPO_ROOT

pytestmark = pytest.mark.slow
TAG = "dockhand-selftest:latest"


def test_the_dockerfile_builds_an_image_that_runs_dockhand(sandbox_image: str, tmp_path: Path) -> None:
    from sandbox.image import ImageRecipe
    from sandbox.manager import connect_docker

    client = connect_docker()
    base = ImageRecipe().base_tag  # made (by debootstrap) when the sandbox image was built
    assert client.images.get(base)
    context = tmp_path / "context"  # what a user's checkout holds, plus the proxy's CA where there is one
    shutil.copytree(
        REPO_ROOT, context, ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__", "tests", "*.egg-info")
    )
    if HOST_CA_BUNDLE.exists():
        shutil.copy(HOST_CA_BUNDLE, context / "deploy" / "extra-ca.pem")
    try:
        client.images.build(path=str(context), tag=TAG, buildargs={"BASE": base}, rm=True, forcerm=True)
    except Exception as exc:  # the build's own log says why
        log = "".join(str(line.get("stream", line)) for line in getattr(exc, "build_log", []))[-3000:]
        pytest.fail(f"docker build failed: {exc}\n{log}")
    try:
        version = client.containers.run(TAG, ["--version"], remove=True).decode()
        assert version.startswith("dockhand "), version
        config = client.containers.run(TAG, ["config"], remove=True).decode()
        assert "/var/lib/dockhand" in config and "0.0.0.0:8080" in config, config
        image = client.images.get(TAG)
        assert image.attrs["Config"]["Healthcheck"]["Test"][0] == "CMD-SHELL"
    finally:
        client.images.remove(TAG, force=True)
        client.close()


def test_compose_yaml_is_valid_and_demands_its_secret() -> None:
    compose = shutil.which("docker-compose")
    assert compose, "docker-compose is installed by scripts/services"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "DOCKHAND_", "GITHUB_", "SLACK_"))}
    good = subprocess.run(
        [compose, "-f", "compose.yaml", "config"], cwd=REPO_ROOT, env=env | {"POSTGRES_PASSWORD": "pw"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert good.returncode == 0, good.stderr
    assert "postgresql+psycopg://dockhand:pw@postgres:5432/dockhand" in good.stdout
    assert "/var/run/docker.sock:/var/run/docker.sock" in good.stdout and "service_healthy" in good.stdout
    missing = subprocess.run(
        [compose, "-f", "compose.yaml", "config"], cwd=REPO_ROOT, env=env,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert missing.returncode != 0 and "set POSTGRES_PASSWORD" in missing.stderr


def test_the_fleet_profile_adds_two_workers_with_data_of_their_own() -> None:
    compose = shutil.which("docker-compose")
    assert compose
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "DOCKHAND_", "GITHUB_", "SLACK_"))}
    shown = subprocess.run(
        [compose, "-f", "compose.yaml", "--profile", "fleet", "config"], cwd=REPO_ROOT,
        env=env | {"POSTGRES_PASSWORD": "pw", "DOCKHAND_SERVE_WORKERS": "0"},
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    services = dict(re.findall(r"(?m)^  ([a-z0-9-]+):\n((?:    .*\n|\n)*)", shown))
    assert "- serve\n    - --workers\n    - '0'" in services["dockhand"]
    for name in ("worker-1", "worker-2"):
        worker = services[name]
        assert "command:\n    - worker\n" in worker and "- fleet" in worker
        assert "postgresql+psycopg://dockhand:pw@postgres:5432/dockhand" in worker
        assert f"{name}-data:/var/lib/dockhand:rw" in worker and "/var/run/docker.sock" in worker


def test_the_systemd_unit_runs_serve_and_restarts(tmp_path: Path) -> None:
    text = (REPO_ROOT / "deploy" / "dockhand.service").read_text()
    unit = configparser.ConfigParser(strict=False, interpolation=None, comment_prefixes=("#", ";"))
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(text)
    assert unit["Service"]["ExecStart"].endswith("dockhand serve") and unit["Service"]["Restart"] == "on-failure"
    assert unit["Install"]["WantedBy"] == "multi-user.target" and "docker.service" in unit["Unit"]["Requires"]
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return  # no systemd on this machine: the structure above is what can be checked
    # The unit as installed from this checkout: its commands must exist for systemd to accept it.
    local = tmp_path / "dockhand.service"
    local.write_text(
        text.replace("/opt/dockhand/.venv", str(REPO_ROOT / ".venv"))
        .replace("/etc/dockhand/dockhand.env", str(tmp_path / "dockhand.env"))
        .replace("Requires=docker.service", "")
        .replace("docker.service postgresql.service", "")
    )
    (tmp_path / "dockhand.env").write_text("DOCKHAND_LOG_LEVEL=INFO\n")
    verified = subprocess.run([analyze, "verify", str(local)], capture_output=True, text=True, timeout=60, check=False)
    problems = [line for line in verified.stderr.splitlines() if "dockhand.service" in line]
    assert verified.returncode == 0 and not problems, verified.stderr

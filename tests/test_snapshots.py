"""Per-repository snapshots: made from the default branch's prepared dependencies, used by later runs on
any branch with the same manifests, refreshed by a newer default-branch commit, pruned, never holding a
credential."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.service import Core
from core.settings import Settings
from core.states import TaskStatus
from sandbox.backend import dependency_cache, docker_backend, snapshot_images
from sandbox.errors import SandboxError
from sandbox.manager import connect_docker
from sandbox.snapshots import Archive, SnapshotImages
from tests.support.store import sql_core
from tests.support.waiting import wait_for
from tests.test_test_pipeline import run

pytestmark = pytest.mark.slow

CANARY = "ghp_" + "C4n4ry" * 6  # dockhand's own GitHub token in these tests
PROJECT = {
    "pyproject.toml": "[project]\nname = 'calc'\nversion = '0.1'\n[build-system]\nrequires = ['setuptools']\n"
    "build-backend = 'setuptools.build_meta'\n[tool.setuptools]\npy-modules = ['calc']\n",
    "calc.py": "def add(a, b):\n    return a + b\n",
    "tests/test_calc.py": "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n",
}


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Snapshots are Docker images: the store's backend is not what these tests are about."""
    return sqlite_url


@pytest.fixture
def core(core_factory, sandbox_image: str) -> Iterator[Core]:  # type: ignore[no-untyped-def]
    base = core_factory(sandbox_image=sandbox_image, snapshots=True, github_token=CANARY)
    cache = dependency_cache(base.settings)
    made = sql_core(base.settings, sandboxes=lambda index: docker_backend(base.settings, index, cache), caches=[cache])
    yield made
    made.stop()
    images = snapshot_images(connect_docker(), made.settings)
    images.prune(everything=True)


def git(repo: Path, *args: str) -> str:
    command = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def make_repo(root: Path, files: dict[str, str] = PROJECT) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "first")
    return root


def snapshots_of(core: Core, commit: str) -> list[Any]:
    return [s for s in snapshot_images(connect_docker(), core.settings).all() if s.commit == commit]


def test_a_snapshot_is_made_on_the_default_branch_used_on_others_and_refreshed(core: Core, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    first = git(repo, "rev-parse", "HEAD")
    _, status, result, log = run(core, repo)
    assert status is TaskStatus.SUCCEEDED and result["projects"][0]["cache"] == "miss", log
    assert "making the snapshot" in log
    wait_for(lambda: snapshots_of(core, first), timeout=60, what="the snapshot of the default branch")
    [made] = snapshots_of(core, first)
    assert made.paths == ("/workspace/.venv",) and made.size_bytes > 0

    # A branch with the same manifests starts from it: no install, the dependencies are there, and its
    # own code is what is tested (not the snapshot's).
    git(repo, "checkout", "-qb", "feature")
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b + 1\n")
    git(repo, "commit", "-qam", "break add")
    _, status, result, log = run(core, repo, ref="feature")
    project = result["projects"][0]
    assert project["cache"] == "snapshot" and "starting from the snapshot" in log, log
    assert status is TaskStatus.FAILED and project["totals"]["failed"] == 1, "the branch's own code ran"

    # A push to the default branch (its test pipeline asks for the pushed commit) refreshes it; the older goes.
    git(repo, "checkout", "-q", "main")
    (repo / "README.md").write_text("calc\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-qm", "docs")
    second = git(repo, "rev-parse", "HEAD")
    _, status, result, log = run(core, repo, ref=second)
    assert status is TaskStatus.SUCCEEDED and result["projects"][0]["cache"] == "snapshot", log
    assert "refreshing the snapshot" in log
    wait_for(lambda: snapshots_of(core, second), timeout=60, what="the refreshed snapshot")
    wait_for(lambda: not snapshots_of(core, first), timeout=30, what="the older snapshot to go")

    # A change to the manifests finds no snapshot: the dependency cache or an install, as before.
    git(repo, "checkout", "-qb", "deps")
    (repo / "pyproject.toml").write_text(PROJECT["pyproject.toml"].replace("0.1", "0.2"))
    git(repo, "commit", "-qam", "bump")
    _, status, result, log = run(core, repo, ref="deps")
    assert status is TaskStatus.SUCCEEDED and result["projects"][0]["cache"] == "miss", log
    assert "starting from the snapshot" not in log


REGULAR = {  # tox's regular install (coverage configured for the installed copy): the venv holds the code
    "setup.py": "from setuptools import setup\nsetup(name='pkg', packages=['pkg'], package_dir={'': 'src'})\n",
    "tox.ini": "[testenv]\ndeps = pytest\ncommands = pytest tests\n",
    "setup.cfg": "[coverage:report]\ninclude = */site-packages/pkg/*\n",
    "src/pkg/__init__.py": "def add(a, b):\n    return a + b\n",
    "tests/test_pkg.py": "from pkg import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n",
}


def test_a_regularly_installed_project_is_put_in_again_over_the_snapshot(core: Core, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", REGULAR)
    _, status, result, log = run(core, repo)
    assert status is TaskStatus.SUCCEEDED and result["projects"][0]["cache"] == "miss", log
    wait_for(lambda: snapshots_of(core, git(repo, "rev-parse", "HEAD")), timeout=60, what="the snapshot")
    git(repo, "checkout", "-qb", "feature")
    (repo / "src/pkg/__init__.py").write_text("def add(a, b):\n    return a - b\n")
    git(repo, "commit", "-qam", "break add")
    _, status, result, log = run(core, repo, ref="feature")
    assert result["projects"][0]["cache"] == "snapshot", log
    assert status is TaskStatus.FAILED and result["projects"][0]["totals"]["failed"] == 1, "the branch's code ran"


def test_a_snapshot_never_holds_a_credential(core: Core, tmp_path: Path) -> None:
    """Canaries: dockhand's own secret, and a credential file, planted in what would be snapshotted."""
    images = snapshot_images(connect_docker(), core.settings)
    base = core.settings.sandbox_image or ""
    for planted, name in ((f"token={CANARY}\n".encode(), "leak.txt"), (b"machine x login y password z\n", None)):
        folder = tmp_path / f"case-{name}"
        (folder / "venv").mkdir(parents=True)
        if name:
            (folder / "venv" / name).write_bytes(planted)
            archive = Archive("/workspace/.venv", _tar(folder, "venv", ".venv"))
        else:
            (folder / "venv" / ".netrc").write_bytes(planted)
            archive = Archive("/home/sandbox", _tar(folder, "venv", "sandbox"))
        with pytest.raises(SandboxError, match="no snapshot"):
            images.build(key="canary", repository="o/r", commit="c" * 40, base_image=base, archives=[archive])
    assert [s for s in images.all() if s.key == "canary"] == []

    # And a real one holds none of dockhand's secrets, read back out of the image itself (a guard: it fails
    # the day dockhand's own token reaches a sandbox's install, which nothing lets it do today).
    repo = make_repo(tmp_path / "repo")
    run(core, repo)
    wait_for(lambda: snapshots_of(core, git(repo, "rev-parse", "HEAD")), timeout=60, what="the snapshot")
    [made] = snapshots_of(core, git(repo, "rev-parse", "HEAD"))
    client = connect_docker()
    scratch = client.containers.create(made.image, ["true"], network_mode="none")
    try:
        stream, _ = scratch.get_archive("/workspace")
        content = b"".join(stream)
    finally:
        scratch.remove(force=True)
    assert b"pyvenv.cfg" in content and CANARY.encode() not in content


def test_least_recently_used_snapshots_go_over_the_size_cap(core: Core, tmp_path: Path) -> None:
    base = core.settings.sandbox_image or ""
    folder = tmp_path / "venv"
    folder.mkdir()
    (folder / "blob").write_bytes(b"x" * 2_000_000)
    archive = Archive("/workspace/.venv", _tar(tmp_path, "venv", ".venv"))
    images = SnapshotImages(
        connect_docker(), core.settings.data_dir / "snapshots", instance="lru-test", max_bytes=5_000_000
    )
    made = [
        images.build(key=f"lru-{i}", repository="o/r", commit=str(i) * 40, base_image=base, archives=[archive])
        for i in range(2)
    ]
    images.find("lru-0", base)  # used since: the second one is now the least recently used
    images.build(key="lru-2", repository="o/r", commit="2" * 40, base_image=base, archives=[archive])
    assert sorted(s.key for s in images.all() if s.key.startswith("lru-")) == ["lru-0", "lru-2"]
    assert made[1].image not in {s.image for s in images.all()}
    assert images.prune(everything=True) and not [s for s in images.all() if s.key.startswith("lru-")]


def _tar(folder: Path, name: str, as_name: str) -> Path:
    import tarfile

    destination = folder / f"{name}.tar"
    with tarfile.open(destination, "w") as tar:
        tar.add(folder / name, arcname=as_name)
    return destination


def test_settings_default_to_snapshots_on() -> None:
    assert Settings.model_fields["snapshots"].default is True

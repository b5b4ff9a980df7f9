"""Repositories into sandboxes and changes back out, with credentials kept on the host."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from core.sandboxing import ExecRequest
from sandbox.git import GitCredentials, GitError, RepoMirrors, export_bundle, export_patch
from sandbox.manager import SandboxManager
from sandbox.workspace_tree import checkout

pytestmark = pytest.mark.slow
CANARY = "ghs_canary_token_never_in_sandbox"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def upstream(tmp_path: Path) -> Path:
    repo = tmp_path / "upstream"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "config", "user.email", "dev@example.com")
    git(repo, "config", "user.name", "Dev")
    (repo / "app.py").write_text("def add(a, b):\n    return a - b\n")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "first")
    git(repo, "tag", "v1")
    git(repo, "checkout", "--quiet", "-b", "feature")
    (repo / "feature.txt").write_text("feature\n")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "feature")
    git(repo, "checkout", "--quiet", "main")
    (repo / "binary.dat").write_bytes(bytes(range(256)))
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "second")
    git(repo, "update-ref", "refs/pull/7/head", "feature")
    return repo


def run(box, command: str) -> str:  # type: ignore[no-untyped-def]
    result = box.exec(ExecRequest(command=command))
    assert result.ok, result.stderr
    return result.stdout


def test_checkout_branch_tag_commit_and_pull_ref(
    sandbox_manager: SandboxManager, upstream: Path, tmp_path: Path
) -> None:
    mirrors = RepoMirrors(tmp_path / "mirrors", allow_local=True)
    box = sandbox_manager.get_or_create("git-refs")
    source = f"file://{upstream}"

    main = checkout(box, mirrors, source)
    assert main.commit == git(upstream, "rev-parse", "main")
    assert run(box, "git rev-parse HEAD").strip() == main.commit
    assert sorted(e.name for e in box.list_dir("/workspace")) == [".git", "app.py", "binary.dat"]
    assert box.read_file("/workspace/binary.dat") == bytes(range(256))

    assert checkout(box, mirrors, source, "v1").commit == git(upstream, "rev-parse", "v1")
    assert "binary.dat" not in run(box, "ls"), "a new checkout replaces the old tree"
    assert checkout(box, mirrors, source, "feature").commit == git(upstream, "rev-parse", "feature")
    first = git(upstream, "rev-parse", "main~1")
    assert checkout(box, mirrors, source, first[:10]).commit == first
    assert checkout(box, mirrors, source, "pull/7/head").commit == git(upstream, "rev-parse", "feature")
    with pytest.raises(GitError, match="no branch, tag or commit"):
        checkout(box, mirrors, source, "nope")


def test_changes_come_out_as_a_patch_and_a_bundle(
    sandbox_manager: SandboxManager, upstream: Path, tmp_path: Path
) -> None:
    box = sandbox_manager.get_or_create("git-out")
    base = checkout(box, RepoMirrors(tmp_path / "mirrors", allow_local=True), f"file://{upstream}").commit
    run(box, "sed -i 's/a - b/a + b/' app.py && printf 'new\\n' > added.txt")

    patch = export_patch(box, base)
    assert b"+    return a + b" in patch and b"added.txt" in patch
    clone = tmp_path / "apply"
    subprocess.run(["git", "clone", "--quiet", str(upstream), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "apply", "--index"], input=patch, check=True)
    assert (clone / "added.txt").read_text() == "new\n"

    bundle = export_bundle(box, base, "Fix add")
    (tmp_path / "work.bundle").write_bytes(bundle)
    git(clone, "fetch", "--quiet", str(tmp_path / "work.bundle"), "HEAD:refs/heads/fix")
    assert git(clone, "log", "-1", "--format=%s", "fix") == "Fix add"
    assert git(clone, "show", "fix:app.py").endswith("return a + b")


def test_credentials_never_reach_the_sandbox_or_a_config(
    sandbox_manager: SandboxManager, upstream: Path, tmp_path: Path
) -> None:
    mirrors = RepoMirrors(tmp_path / "mirrors", allow_local=True)
    box = sandbox_manager.get_or_create("git-secret")
    source = f"file://{upstream}"
    checkout(box, mirrors, source, credentials=GitCredentials.github_token(CANARY))
    encoded = GitCredentials.github_token(CANARY).header.split()[-1]
    inside = run(
        box,
        "cat .git/config; git remote -v; env; tr '\\0' '\\n' < /proc/1/environ; "
        "grep -rl -e canary -e " + encoded + " /workspace /home /tmp 2>/dev/null; echo end",
    )
    assert CANARY not in inside and encoded not in inside and "end" in inside
    assert "[remote" not in inside, "the sandbox's repository has no remote"
    mirror_config = (mirrors.path_for(source) / "config").read_text()
    assert CANARY not in mirror_config and encoded not in mirror_config and str(upstream) in mirror_config


def test_sources_from_the_network_cannot_name_local_repositories(tmp_path: Path, upstream: Path) -> None:
    remote_only = RepoMirrors(tmp_path / "mirrors")
    for source in (str(upstream), f"file://{upstream}", "ssh://git@example.com/x.git", "ext::sh -c id", "git://x/y"):
        with pytest.raises(GitError, match="refusing git source"):
            remote_only.fetch(source, None)
    for source in ("ssh://git@example.com/x.git", "ext::sh -c id"):
        with pytest.raises(GitError, match="refusing git source"):
            RepoMirrors(tmp_path / "m2", allow_local=True).fetch(source, None)


def test_credentials_are_scoped_to_their_server() -> None:
    env = GitCredentials.github_token("t0ken").env()
    assert env["GIT_CONFIG_KEY_0"] == "http.https://github.com/.extraHeader"
    assert "t0ken" not in env["GIT_CONFIG_VALUE_0"]  # base64 inside the header, never in a URL


def test_work_is_published_as_a_branch_from_the_host(
    sandbox_manager: SandboxManager, upstream: Path, tmp_path: Path
) -> None:
    from core.forge import branch_name
    from sandbox.git import publish_bundle

    remote = tmp_path / "remote.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(upstream), str(remote)], check=True)
    source = f"file://{remote}"
    mirrors = RepoMirrors(tmp_path / "mirrors", allow_local=True)
    box = sandbox_manager.get_or_create("git-publish")
    base = checkout(box, mirrors, source).commit
    run(box, "sed -i 's/a - b/a + b/' app.py")
    bundle = export_bundle(box, base, "Fix add() (#12)")
    branch = branch_name("issue", 12, "add() subtracts instead of adding!")
    assert branch == "dockhand/issue-12-add-subtracts-instead-of-adding"
    pushed = publish_bundle(mirrors, source, bundle, branch, credentials=GitCredentials.github_token(CANARY))
    assert git(remote, "rev-parse", f"refs/heads/{branch}") == pushed
    assert git(remote, "log", "-1", "--format=%s", branch) == "Fix add() (#12)"
    assert git(remote, "rev-parse", f"{branch}~1") == base
    assert CANARY not in (mirrors.path_for(source) / "config").read_text()
    with pytest.raises(GitError, match="not a valid branch name"):
        publish_bundle(mirrors, source, bundle, "bad..name")


def test_a_plain_sdist_folder_keeps_the_version_its_pkg_info_states(tmp_path: Path) -> None:
    from sandbox.git import materialize

    sdist = tmp_path / "pkg-2.8.2"
    sdist.mkdir()
    (sdist / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: pkg\nVersion: 2.8.2\n\nlong description\n")
    (sdist / "setup.py").write_text("from setuptools import setup\nsetup()\n")
    tree = materialize(RepoMirrors(tmp_path / "mirrors", allow_local=True), str(sdist), None, tmp_path / "tree")
    # What setuptools_scm asks git: the snapshot's commit is that version, not 0.1.dev1.
    assert git(tree.path, "describe", "--tags", "--exact-match") == "2.8.2"
    (sdist / "PKG-INFO").write_text("Version: $(touch /tmp/x)\n")  # not a version: no tag at all
    plain = materialize(RepoMirrors(tmp_path / "mirrors", allow_local=True), str(sdist), None, tmp_path / "t2")
    assert git(plain.path, "tag", "--list") == ""

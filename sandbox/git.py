"""Repositories into and out of sandboxes, with credentials that never enter one.

The host keeps a mirror of each repository (fetched with credentials passed to git through the
environment, never written to a config or URL), makes a clean clone at the wanted commit with no
remote, and copies that tree into the sandbox's workspace through the Docker archive API. Work
comes back out as a patch or a git bundle (written under .git/, since Docker's archive API cannot
read the sandbox's tmpfs).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.sandboxing import ExecRequest, SourceTree, VerifiedChange
from sandbox.errors import SandboxError

if TYPE_CHECKING:  # the Docker client is imported only where a sandbox is made
    from sandbox.live import LiveSandbox

WORKSPACE = "/workspace"
_PULL_REF = re.compile(r"^(?:refs/)?pull/([0-9]+)/(head|merge)$")
MAX_PATCH_BYTES = 20 * 1024 * 1024


class GitError(SandboxError):
    pass


@dataclass(frozen=True, kw_only=True)
class GitCredentials:
    """An HTTP Authorization header for one server (e.g. a GitHub installation token for github.com)."""

    header: str
    url_prefix: str = "https://github.com/"

    @classmethod
    def github_token(cls, token: str, url_prefix: str = "https://github.com/") -> GitCredentials:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        return cls(header=f"Authorization: Basic {basic}", url_prefix=url_prefix)

    def env(self) -> dict[str, str]:
        # GIT_CONFIG_* (git >= 2.31) sets the header for this process only, and only for URLs under the prefix.
        return {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": f"http.{self.url_prefix}.extraHeader",
            "GIT_CONFIG_VALUE_0": self.header,
        }


@dataclass(frozen=True, kw_only=True)
class Checkout:
    source: str
    ref: str
    commit: str


class RepoMirrors:
    """Host-side bare mirrors, one per source, updated on each use.

    Sources are https/http URLs; local paths and file:// only when `allow_local` (an operator's own CLI),
    never for requests from the network, which could otherwise read any repository on the host.
    """

    def __init__(self, cache_dir: Path, *, allow_local: bool = False) -> None:
        self.cache_dir = cache_dir
        self.allow_local = allow_local

    def check_source(self, source: str) -> None:
        if source.startswith(("https://", "http://")):
            return
        if self.allow_local and (source.startswith("file://") or source.startswith("/")):
            return
        allowed = "https:// URLs" + (", file:// URLs and absolute paths" if self.allow_local else "")
        raise GitError(f"refusing git source {source!r}: only {allowed} are allowed")

    def path_for(self, source: str) -> Path:
        return self.cache_dir / (hashlib.sha256(source.encode()).hexdigest()[:24] + ".git")

    def default_branch(self, source: str) -> tuple[str, str] | None:
        """The mirror's default branch (the remote's, as cloned) and its commit; None with no mirror."""
        mirror = self.path_for(source)
        try:
            head = (mirror / "HEAD").read_text().strip()
        except OSError:
            return None
        if not head.startswith("ref: refs/heads/"):
            return None
        branch = head.removeprefix("ref: refs/heads/")
        commit = _resolve(mirror, f"refs/heads/{branch}")
        return (branch, commit) if commit else None

    def fetch(self, source: str, ref: str | None, credentials: GitCredentials | None = None) -> tuple[Path, str]:
        """Update the mirror of `source` and resolve `ref` (branch, tag, commit, pull/N/head; default HEAD)."""
        self.check_source(source)
        mirror = self.path_for(source)
        env = credentials.env() if credentials else {}
        with _locked(mirror):
            if not (mirror / "HEAD").exists():
                _git(["clone", "--mirror", "--quiet", "--", source, str(mirror)], env=env)
            else:
                _git(["-C", str(mirror), "remote", "update", "--prune"], env=env)
            wanted = ref or "HEAD"
            pull = _PULL_REF.match(wanted)
            if pull:
                wanted = f"refs/pull/{pull[1]}/{pull[2]}"
                _git(["-C", str(mirror), "fetch", "--quiet", "origin", f"+{wanted}:{wanted}"], env=env)
            commit = _resolve(mirror, wanted)
            if commit is None and re.fullmatch(r"[0-9a-f]{7,64}", wanted):
                _git(["-C", str(mirror), "fetch", "--quiet", "origin", wanted], env=env)
                commit = _resolve(mirror, wanted)
            if commit is None:
                raise GitError(f"{source}: no branch, tag or commit {wanted!r}")
        return mirror, commit


def materialize(
    mirrors: RepoMirrors,
    source: str,
    ref: str | None,
    destination: Path,
    *,
    credentials: GitCredentials | None = None,
) -> SourceTree:
    """A clean clone of `source` at `ref` in `destination` on the host: detached, no remote, no credentials.

    A local directory that is not itself a repository's top level (e.g. a folder inside one) is taken as
    it is on disk: its files (those git would track, where it is inside a repository) are committed into a
    fresh repository with a fixed author and date, so the same content always gets the same commit.
    """
    if mirrors.allow_local and source.startswith("/") and not _is_toplevel(Path(source)):
        if ref is not None:
            raise GitError(f"{source} is a plain directory, not a repository: it has no ref {ref!r}")
        return _snapshot(Path(source), destination)
    mirror, commit = mirrors.fetch(source, ref, credentials)
    _git(["clone", "--quiet", "--no-checkout", "--", str(mirror), str(destination)])
    _git(["-C", str(destination), "checkout", "--quiet", "--detach", commit])
    _git(["-C", str(destination), "remote", "remove", "origin"])
    _git(["-C", str(destination), "config", "user.name", "dockhand"])
    _git(["-C", str(destination), "config", "user.email", "dockhand@localhost"])
    return SourceTree(source=source, ref=ref or "HEAD", commit=commit, path=destination)


def _is_toplevel(path: Path) -> bool:
    try:
        top = _git(["-C", str(path), "rev-parse", "--show-toplevel"]).strip()
    except GitError:
        return False
    return Path(top).resolve() == path.resolve()


_SNAPSHOT_SKIP = {".git", "node_modules", ".venv", "venv", "target", "__pycache__", ".pytest_cache"}


def _snapshot(directory: Path, destination: Path) -> SourceTree:
    if not directory.is_dir():
        raise GitError(f"{directory} is not a directory")
    try:
        listed = _git(["-C", str(directory), "ls-files", "-z", "--cached", "--others", "--exclude-standard", "."])
        files = [Path(name) for name in listed.split("\0") if name]
    except GitError:  # not inside a repository at all
        files = [
            p.relative_to(directory)
            for p in sorted(directory.rglob("*"))
            if p.is_file() and not _SNAPSHOT_SKIP & set(p.relative_to(directory).parts)
        ]
    destination.mkdir(parents=True)
    for rel in files:
        source_file = directory / rel
        if source_file.is_symlink() or not source_file.is_file():
            continue
        target = destination / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source_file, target)
        target.chmod(source_file.stat().st_mode & 0o777)  # keep execute bits, never setuid
    fixed = {
        "GIT_AUTHOR_NAME": "dockhand",
        "GIT_AUTHOR_EMAIL": "dockhand@localhost",
        "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z",
        "GIT_COMMITTER_NAME": "dockhand",
        "GIT_COMMITTER_EMAIL": "dockhand@localhost",
        "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z",
    }
    _git(["-C", str(destination), "init", "--quiet", "--initial-branch=snapshot"])
    _git(["-C", str(destination), "add", "--all"])
    _git(["-C", str(destination), "commit", "--quiet", "--allow-empty", "-m", f"snapshot of {directory}"], env=fixed)
    _git(["-C", str(destination), "config", "user.name", "dockhand"])
    _git(["-C", str(destination), "config", "user.email", "dockhand@localhost"])
    commit = _git(["-C", str(destination), "rev-parse", "HEAD"]).strip()
    if version := _sdist_version(destination):
        # Without git, version tools (setuptools_scm, hatch-vcs, versioneer) read an sdist's PKG-INFO; with the
        # snapshot's repository they read its tags, and a repository with none is version 0.1.dev1 — which
        # breaks every dependency that asks for the package itself. The tag says what PKG-INFO said.
        _git(["-C", str(destination), "tag", version])
    return SourceTree(source=str(directory), ref="working tree", commit=commit, path=destination)


def _sdist_version(tree: Path) -> str | None:
    """The `Version:` of an unpacked sdist's top-level PKG-INFO, when it is a plain version a tag can carry."""
    path = tree / "PKG-INFO"
    if path.is_symlink() or not path.is_file():
        return None
    with path.open("rb") as handle:
        head = handle.read(64 * 1024).decode("utf-8", "replace")
    match = re.search(r"^Version:\s*(?P<version>[0-9][0-9A-Za-z.+!-]{0,60})\s*$", head, re.MULTILINE)
    return match["version"] if match else None


def diff_against(
    mirrors: RepoMirrors, source: str, base: str, commit: str, *, context: int = 0, renames: bool = False
) -> str:
    """`git diff base...commit` in the host mirror (the base may be any branch, tag or commit there): what
    the commit changed since it left the base. `context` lines around each change; renames detected or not."""
    mirror = mirrors.path_for(source)
    base_commit = _resolve(mirror, base)
    if base_commit is None:
        raise GitError(f"{source}: no base {base!r} to compare with")
    # Three dots: what the commit changed since it left the base, not what the base did meanwhile.
    return _git(
        [
            "-C",
            str(mirror),
            "-c",
            "core.quotePath=false",
            "diff",
            f"-U{context}",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "-M" if renames else "--no-renames",
            f"{base_commit}...{commit}",
        ]
    )


def export_patch(box: LiveSandbox, base: str) -> bytes:
    """Every change in the workspace since `base` (committed or not, new files included) as a binary patch."""
    result = box.exec(
        ExecRequest(
            command=f"git add -A && git diff --cached --binary {_q(base)} > .git/dockhand-export.patch",
            timeout_seconds=300,
        )
    )
    if not result.ok:
        raise GitError(f"sandbox {box.sandbox_id}: git diff failed: {result.stderr.strip()}")
    return box.read_file(f"{WORKSPACE}/.git/dockhand-export.patch", max_bytes=MAX_PATCH_BYTES)


def export_bundle(box: LiveSandbox, base: str, message: str) -> bytes:
    """Commit what is uncommitted, then the commits since `base` as a git bundle the host can fetch from."""
    script = (
        f"git add -A && (git diff --cached --quiet || git commit --quiet -m {_q(message)}) && "
        f"git bundle create --quiet .git/dockhand-export.bundle {_q(base)}..HEAD"
    )
    result = box.exec(ExecRequest(command=script, timeout_seconds=300))
    if not result.ok:
        raise GitError(f"sandbox {box.sandbox_id}: git bundle failed: {result.stderr.strip() or result.describe()}")
    return box.read_file(f"{WORKSPACE}/.git/dockhand-export.bundle")


def _resolve(mirror: Path, ref: str) -> str | None:
    try:
        out = _git(["-C", str(mirror), "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"])
    except GitError:
        return None
    return out.strip() or None


# Host-side git runs on repositories from strangers: none of the host's git config, credential helpers,
# hooks, filters (e.g. LFS) or transports beyond http(s) and local files may take part.
_SAFE_GIT = [
    "-c", "credential.helper=",
    "-c", "core.hooksPath=/dev/null",
    "-c", "core.fsmonitor=false",
    "-c", "protocol.allow=never",
    "-c", "protocol.https.allow=always",
    "-c", "protocol.http.allow=always",
    "-c", "protocol.file.allow=always",
    "-c", "filter.lfs.process=",
    "-c", "filter.lfs.smudge=",
    "-c", "filter.lfs.required=false",
]  # fmt: skip


def _git(args: list[str], *, env: Mapping[str, str] | None = None) -> str:
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": tempfile.gettempdir(),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "/bin/false",
        "SSH_ASKPASS": "/bin/false",
        **(env or {}),
    }
    result = subprocess.run(
        ["git", *_SAFE_GIT, *args], capture_output=True, text=True, env=full_env, check=False, timeout=600
    )
    if result.returncode != 0:
        raise GitError(f"git {args[2] if args[0] == '-C' else args[0]} failed: {result.stderr.strip()[-500:]}")
    return result.stdout


@contextmanager
def _locked(mirror: Path) -> Iterator[None]:
    mirror.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{mirror}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _q(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def publish_bundle(
    mirrors: RepoMirrors,
    source: str,
    bundle: bytes,
    branch: str,
    *,
    credentials: GitCredentials | None = None,
) -> str:
    """Push the bundle's HEAD to `branch` of `source`, from the host (the sandbox never holds the token).

    Returns the pushed commit. The push goes to the source's URL directly, with the credentials in git's
    environment only; a branch that already exists is updated only if this is a fast-forward.
    """
    mirrors.check_source(source)
    if _run_check(["check-ref-format", f"refs/heads/{branch}"]) is False:
        raise GitError(f"not a valid branch name: {branch!r}")
    mirror = mirrors.path_for(source)
    env = credentials.env() if credentials else {}
    with tempfile.TemporaryDirectory(prefix="dockhand-publish-") as tmp:
        path = Path(tmp) / "work.bundle"
        path.write_bytes(bundle)
        verify = ["-C", str(mirror), "bundle", "verify", "--quiet", str(path)]
        if not (mirror / "HEAD").exists() or not _run_check(verify):  # made on another machine: fetch its base
            mirrors.fetch(source, None, credentials)
        with _locked(mirror):
            _git(verify)
            head = _only_head(mirror, path)
            local = f"refs/dockhand/publish/{branch}"
            _git(["-C", str(mirror), *_FSCK, "fetch", "--no-tags", "--quiet", str(path), f"+{head}:{local}"])
            commit = _git(["-C", str(mirror), "rev-parse", local]).strip()
            _git(["-C", str(mirror), "push", "--quiet", source, f"{local}:refs/heads/{branch}"], env=env)
    return commit


_FSCK = ["-c", "transfer.fsckObjects=true", "-c", "fetch.fsckObjects=true"]


def _only_head(repo: Path, bundle: Path) -> str:
    """The one ref a bundle carries (dockhand's bundles carry exactly one)."""
    heads = [
        line.split(" ", 1)[1] for line in _git(["-C", str(repo), "bundle", "list-heads", str(bundle)]).splitlines()
    ]
    if len(heads) != 1:
        raise GitError(f"a change bundle must carry exactly one ref, not {len(heads)}")
    return heads[0]


def squash_change(tree: SourceTree, bundle: bytes, *, message: str, author: tuple[str, str]) -> VerifiedChange:
    """On the host, from an untrusted bundle of the sandbox's commits: one commit of their end state on top
    of the checked-out commit, with dockhand's identity — its diff (text, no external diff or textconv
    drivers) and a bundle of just that commit. The sandbox's own commits, messages and authors stay behind.
    """
    repo, base = tree.path, tree.commit
    name, email = author
    identity = {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }
    with tempfile.TemporaryDirectory(prefix="dockhand-change-") as tmp:
        incoming = Path(tmp) / "incoming.bundle"
        incoming.write_bytes(bundle)
        _git(["-C", str(repo), "bundle", "verify", "--quiet", str(incoming)])
        head = _only_head(repo, incoming)
        _git(["-C", str(repo), *_FSCK, "fetch", "--no-tags", "--quiet", str(incoming), f"+{head}:refs/dockhand/agent"])
        tip = _git(["-C", str(repo), "rev-parse", "--verify", "refs/dockhand/agent^{commit}"]).strip()
        if not _run_check(["-C", str(repo), "merge-base", "--is-ancestor", base, tip]):
            raise GitError("the sandbox's change does not build on the commit it was given")
        tree_id = _git(["-C", str(repo), "rev-parse", "--verify", f"{tip}^{{tree}}"]).strip()
        commit = _git(["-C", str(repo), "commit-tree", tree_id, "-p", base, "-m", message], env=identity).strip()
        _git(["-C", str(repo), "update-ref", "refs/heads/dockhand-change", commit])
        plain = ["-c", "core.quotePath=false", "diff", "--text", "--no-ext-diff", "--no-textconv", "--no-color"]
        diff = _git(["-C", str(repo), *plain, "--no-renames", base, commit])
        numstat = _git(["-C", str(repo), *plain, "--no-renames", "--numstat", "-z", base, commit])
        outgoing = Path(tmp) / "change.bundle"
        _git(["-C", str(repo), "bundle", "create", "--quiet", str(outgoing), "refs/heads/dockhand-change", f"^{base}"])
        data = outgoing.read_bytes()
    return VerifiedChange(commit=commit, bundle=data, diff=diff, numstat=numstat)


def _run_check(args: list[str]) -> bool:
    try:
        _git(args)
    except GitError:
        return False
    return True

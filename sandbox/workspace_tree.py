"""Putting a checked-out tree into a sandbox's /workspace (keeping a snapshot's dependencies if asked)."""

from __future__ import annotations

import secrets
import shlex
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from core.sandboxing import ExecRequest, SourceTree
from sandbox.git import WORKSPACE, Checkout, GitCredentials, GitError, RepoMirrors, _git, materialize
from sandbox.live import SANDBOX_UID, LiveSandbox


def load_tree(box: LiveSandbox, tree: SourceTree, *, keep: Sequence[str] = ()) -> None:
    """Replace the sandbox's /workspace with the tree (files owned by the sandbox user), but `keep`.

    Every file's modification time is the commit's committer time, not the time of this checkout: build
    tools that judge freshness by mtime (cargo) then see a restored target/ as up to date for the same
    sources, where a checkout's "now" would make every source newer than every cached artifact."""
    with tempfile.TemporaryDirectory(prefix="dockhand-tree-") as tmp:
        archive = Path(tmp) / "tree.tar"
        _tar_tree(tree.path, archive, mtime=_commit_time(tree.path, tree.commit))
        kept = [PurePosixPath(p) for p in keep if p.startswith(WORKSPACE + "/")]
        # A name no checkout holds (one of the tree's own would be merged into, then wiped with, the kept ones).
        keep_name = f".dockhand-keep-{secrets.token_hex(8)}"
        apart = f"{WORKSPACE}/{keep_name}"
        # Kept paths move aside (a rename: same volume) while the workspace is emptied, and come back after.
        aside = "".join(f"mkdir -p {apart}/{i} && mv {_q(p)} {apart}/{i}/ 2>/dev/null; " for i, p in enumerate(kept))
        empty = f"find {WORKSPACE} -mindepth 1 -maxdepth 1 ! -name {keep_name} -exec rm -rf {{}} +"
        wipe = box.exec(ExecRequest(command=aside + empty, timeout_seconds=120))
        if not wipe.ok:
            raise GitError(f"sandbox {box.sandbox_id}: cannot empty the workspace: {wipe.stderr.strip()}")
        with archive.open("rb") as data:
            box.put_archive(WORKSPACE, data)
    if kept:  # the kept copy wins over anything the tree has in its place
        back = "".join(
            f"if [ -e {apart}/{i}/{_q(p.name)} ]; then mkdir -p {_q(p.parent)} && rm -rf {_q(p)} && "
            f"mv {apart}/{i}/{_q(p.name)} {_q(p)}; fi; "
            for i, p in enumerate(kept)
        )
        restored = box.exec(ExecRequest(command=f"{back}rm -rf {apart}", timeout_seconds=120))
        if not restored.ok:
            raise GitError(f"sandbox {box.sandbox_id}: cannot put its dependencies back: {restored.stderr.strip()}")


def _q(path: PurePosixPath | str) -> str:
    return shlex.quote(str(path))


def checkout(
    box: LiveSandbox,
    mirrors: RepoMirrors,
    source: str,
    ref: str | None = None,
    *,
    credentials: GitCredentials | None = None,
) -> Checkout:
    """Put `source` at `ref` into the sandbox's /workspace (replacing what was there), with no remote."""
    with tempfile.TemporaryDirectory(prefix="dockhand-checkout-") as tmp:
        tree = materialize(mirrors, source, ref, Path(tmp) / "tree", credentials=credentials)
        load_tree(box, tree)
    return Checkout(source=source, ref=tree.ref, commit=tree.commit)


def _commit_time(repo: Path, commit: str) -> int | None:
    """The commit's committer time (seconds since the epoch); None when `repo` cannot say."""
    try:
        return int(_git(["-C", str(repo), "show", "--no-patch", "--format=%ct", "--end-of-options", commit]).strip())
    except (GitError, ValueError):
        return None


def _tar_tree(root: Path, destination: Path, *, mtime: int | None = None) -> None:
    def owned_by_sandbox(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = SANDBOX_UID
        info.uname = info.gname = "sandbox"
        if mtime is not None:
            info.mtime = mtime
        return info

    with tarfile.open(destination, mode="w") as tar:
        for entry in sorted(root.iterdir()):
            tar.add(entry, arcname=entry.name, filter=owned_by_sandbox)

"""What a pipeline, a button or a screen needs to keep and read the files a task made (its change's bundle and
diff, test reports): the artifact store, in the database (`core.store.artifacts`), so that any machine reads what
another made. Names are paths under the task: `change.bundle`, `attempt-2/change.diff`, `round-1/reports/…`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Protocol

BUNDLE_NAME = "change.bundle"
DIFF_NAME = "change.diff"


class ArtifactStore(Protocol):
    def put(self, task_id: str, name: str, data: bytes) -> str:
        """Store (or replace) an artifact; its SHA-256."""
        ...

    def get(self, task_id: str, name: str) -> bytes | None: ...

    def names(self, task_id: str, prefix: str = "") -> list[str]: ...

    def delete(self, task_id: str, prefix: str = "") -> int: ...

    def prune(self, older_than: timedelta) -> int: ...


def change_name(name: str, attempt: int | None = None) -> str:
    """Where a change's file is kept: the task's own, or one of its attempts'."""
    return f"attempt-{attempt}/{name}" if attempt is not None else name


def stored_diff(artifacts: ArtifactStore, task_id: str, attempt: int | None = None) -> str:
    """The change a resolution task wants to publish ("" when there is none); `attempt`: one of its attempts'."""
    data = artifacts.get(task_id, change_name(DIFF_NAME, attempt))
    return data.decode(errors="replace") if data is not None else ""


def put_folder(artifacts: ArtifactStore, task_id: str, folder: Path, under: str) -> int:
    """Every file below `folder` (made on this machine, e.g. test reports) as the task's artifacts under `under`;
    how many. Symlinks are not followed."""
    stored = 0
    for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
        if path.is_file() and not path.is_symlink():
            name = "/".join(filter(None, [under.strip("/"), path.relative_to(folder).as_posix()]))
            artifacts.put(task_id, name, path.read_bytes())
            stored += 1
    return stored

"""The real-world corpus: projects pinned by version and sha256, fetched from their registries, unpacked.

Shared by `bench/realworld.py` (the measurement), `tests/test_realworld.py` (the fast subset as a test)
and `tests/realworld/ground_truth.py` (how the truth was recorded, by hand, without dockhand).
Archives are cached under ~/.cache/dockhand/realworld/ and checked against their sha256 on every use,
so a changed upload or a corrupt cache is refused instead of silently measured.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parent / "corpus.toml"
CACHE = Path(os.environ.get("DOCKHAND_REALWORLD_CACHE", Path.home() / ".cache" / "dockhand" / "realworld"))
COUNTS = ("passed", "failed", "skipped", "errors")


class CorpusError(Exception):
    pass


@dataclass(frozen=True, kw_only=True)
class Truth:
    """What the project's own test command printed: counts, and coverage only where the project measures it."""

    passed: int
    failed: int
    skipped: int
    errors: int
    coverage_percent: float | None = None
    coverage_digits: int = 0  # how many decimals the project's coverage tool prints (coverage.py: 0)


@dataclass(frozen=True, kw_only=True)
class Project:
    name: str
    kind: str  # pypi | debian | npm
    package: str
    version: str
    file: str
    sha256: str
    root: str
    source: str
    install: str
    test: str
    note: str = ""
    fast: bool = False
    truth: Truth | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def load(path: Path = CORPUS) -> list[Project]:
    data = tomllib.loads(path.read_text())
    projects = []
    for entry in data.get("project", []):
        entry = dict(entry)
        truth = entry.pop("truth", None)
        known = {k: entry.pop(k) for k in list(entry) if k in Project.__dataclass_fields__}
        projects.append(Project(**known, truth=Truth(**truth) if truth else None, extra=entry))
    names = [p.name for p in projects]
    if len(set(names)) != len(names):
        raise CorpusError("corpus.toml: project names must be unique")
    return projects


# --- fetching ------------------------------------------------------------------------------------
def archive(project: Project, cache: Path = CACHE) -> Path:
    """The project's downloaded file, from the cache or its registry, sha256-checked."""
    target = cache / project.kind / project.file
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            _download(project, Path(tmp))
            got = Path(tmp) / project.file
            if not got.is_file():
                raise CorpusError(f"{project.name}: the download did not produce {project.file}")
            got.replace(target)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    if digest != project.sha256:
        raise CorpusError(f"{project.name}: {target} has sha256 {digest}, expected {project.sha256}")
    return target


def _download(project: Project, into: Path) -> None:
    """The registry's ordinary client, asked for exactly one pinned package."""
    spec = {
        "pypi": ["pip", "download", "--isolated", "--no-deps", "--no-binary", ":all:", "-d", ".",
                 f"{project.package}=={project.version}"],
        "debian": ["apt-get", "download", f"{project.package}={project.version}"],
        "npm": ["npm", "pack", "--silent", f"{project.package}@{project.version}"],
    }[project.kind]  # fmt: skip
    done = subprocess.run(spec, cwd=into, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        hint = " (run `apt-get update` once first)" if project.kind == "debian" else ""
        raise CorpusError(f"{project.name}: {' '.join(spec)} failed{hint}: {done.stderr.strip()[-500:]}")


def unpack(project: Project, into: Path, cache: Path = CACHE) -> Path:
    """The project's root folder, unpacked under `into` (a plain directory: dockhand snapshots it itself)."""
    file = archive(project, cache)
    raw = into / "archive"
    raw.mkdir(parents=True)
    if project.kind == "debian":
        subprocess.run(["dpkg-deb", "-x", str(file), str(raw)], check=True, capture_output=True)
    else:
        with tarfile.open(file) as tar:
            tar.extractall(raw, filter="data")
    root = (raw / project.root).resolve()
    if not root.is_dir() or not root.is_relative_to(raw.resolve()):
        raise CorpusError(f"{project.name}: no folder {project.root!r} in {file.name}")
    # Debian's Go sources are a tree of symlinks into other packages' folders in places, and the
    # project folder itself may be reached through one: copy it out as real files.
    project_dir = into / project.name
    shutil.copytree(root, project_dir, symlinks=False, ignore_dangling_symlinks=True)
    shutil.rmtree(raw)
    return project_dir


# --- comparing -----------------------------------------------------------------------------------
def differences(truth: Truth, measured: dict[str, Any]) -> list[str]:
    """What dockhand's per-project summary got wrong: counts exactly, coverage as the project's tool rounds it."""
    wanted = {k: getattr(truth, k) for k in COUNTS}
    out = [f"{k} {measured.get(k, 0)} (truth {n})" for k, n in wanted.items() if measured.get(k, 0) != n]
    got = measured.get("coverage_percent")
    if truth.coverage_percent is None:
        return out  # the project does not measure coverage: dockhand's own figure has nothing to match
    if got is None:
        out.append(f"coverage none (truth {truth.coverage_percent:g}%)")
    elif displayed(got, truth.coverage_digits) != displayed(truth.coverage_percent, truth.coverage_digits):
        out.append(f"coverage {got:.2f}% (truth {truth.coverage_percent:g}%)")
    return out


def displayed(percent: float, digits: int) -> float:
    """A percentage as coverage.py prints it: rounded, but never shown as 100 (or 0) unless exactly so."""
    shown = round(float(percent), digits)
    step = 10.0**-digits
    if shown == 100 and percent < 100:
        return round(100 - step, digits)
    if shown == 0 and percent > 0:
        return step
    return shown

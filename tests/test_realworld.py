"""The fast subset of the real-world corpus (tests/realworld/corpus.toml, `fast = true`): dockhand must get
each project's counts and coverage exactly as the project's own documented command printed them.

The whole corpus is a measurement, not a gate: `bench/realworld.py` runs it and prints `K/N exact`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.realworld.corpus import CorpusError, Project, archive, load, unpack
from tests.realworld.measure import judge, run_dockhand

pytestmark = pytest.mark.slow

FAST = [p for p in load() if p.fast]


def _docker_unavailable() -> str | None:
    """Why Docker cannot be used here, or None."""
    try:
        import docker

        docker.from_env().ping()
    except Exception as exc:
        return f"Docker is unavailable ({type(exc).__name__}: {exc})"
    return None


@pytest.fixture(scope="module")
def docker_available() -> None:
    reason = _docker_unavailable()
    if reason:
        pytest.skip(reason)


def test_the_corpus_is_complete() -> None:
    """Every project is pinned and has its truth; a fast subset exists (this part needs no Docker)."""
    projects = load()
    assert len(projects) >= 20
    assert {p.kind for p in projects} == {"pypi", "debian", "npm"}
    for p in projects:
        assert len(p.sha256) == 64, p.name
        assert p.truth is not None, p.name
    assert 3 <= len(FAST) <= 5


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("project", FAST, ids=[p.name for p in FAST])
def test_fast_project_is_exact(project: Project, docker_available: None, tmp_path: Path) -> None:
    try:
        archive(project)
    except CorpusError as exc:
        pytest.skip(f"{project.name}: its archive is neither cached nor downloadable here ({exc})")
    folder = unpack(project, tmp_path)
    verdict, detail, _ = judge(project, run_dockhand(folder, tmp_path / "dockhand.log"))
    assert verdict == "exact", f"{project.name}: {detail}\n(dockhand's output: {tmp_path / 'dockhand.log'})"

"""Shared fixtures: real SQLite files, a real PostgreSQL when DOCKHAND_TEST_POSTGRES_URL is set
(scripts/test and CI always set it), and cores built from real settings."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.service import Core
from core.settings import Settings
from tests.support.store import fresh_postgres_database, sql_core

POSTGRES_URL = os.environ.get("DOCKHAND_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])
REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT / "tests" / "fixtures"


def pytest_report_header(config: pytest.Config) -> str:
    return f"dockhand store backends under test: {', '.join(BACKENDS)}"


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'dockhand.db'}"
        return
    assert POSTGRES_URL is not None
    with fresh_postgres_database(POSTGRES_URL) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'dockhand.db'}"


def make_settings(data_dir: Path, database_url: str, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "_env_file": None,
        "data_dir": data_dir,
        "database_url": database_url,
        "poll_interval_seconds": 0.05,
        "retry_backoff_seconds": 0.0,
        "sweep_interval_seconds": 0.5,
        # Queue and worker tests exercise scheduling, not isolation: their commands run on the host.
        # The sandbox tests run `custom` tasks in Docker.
        "custom_runner": "host",
        # Rate limits are tested where they are the subject; bursts elsewhere must not trip them.
        "repo_tasks_per_hour": 0,
        "submissions_per_minute": 0,
        # Snapshot images outlive a test (they are the engine's): made only where they are the subject.
        "snapshots": False,
        "warm_pool": 0,
    }
    base.update(overrides)
    return Settings.load(**base)


@pytest.fixture
def settings_factory(tmp_path: Path, database_url: str) -> Callable[..., Settings]:
    def factory(**overrides: Any) -> Settings:
        return make_settings(tmp_path / "data", database_url, **overrides)

    return factory


@pytest.fixture
def core_factory(settings_factory: Callable[..., Settings]) -> Iterator[Callable[..., Core]]:
    """Cores on the test's database; every one is stopped at the end of the test."""
    made: list[Core] = []

    def factory(*, registry: Any = None, **overrides: Any) -> Core:
        core = sql_core(settings_factory(**overrides), registry=registry)
        made.append(core)
        return core

    yield factory
    for core in made:
        core.stop(grace_seconds=2)


@pytest.fixture
def core(core_factory: Callable[..., Core]) -> Core:
    return core_factory()


HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


@pytest.fixture(scope="session")
def sandbox_image() -> str:
    """The real sandbox image, built once per run (a no-op when an image with the same inputs exists)."""
    from sandbox.image import ImageBuilder, ImageRecipe
    from sandbox.manager import connect_docker

    recipe = ImageRecipe.from_ca_file(HOST_CA_BUNDLE if HOST_CA_BUNDLE.exists() else None)
    return ImageBuilder(connect_docker()).build(recipe).tag


@pytest.fixture
def sandbox_manager(sandbox_image: str, tmp_path: Path) -> Iterator[Any]:
    """A sandbox manager on a fresh SQLite store, with an instance label of its own; cleans up after itself."""
    from core.sandboxing import SandboxPolicy
    from core.store.database import Database
    from core.store.sandboxes import SandboxRecords
    from sandbox.disk import SandboxDisks
    from sandbox.live import SANDBOX_UID
    from sandbox.manager import SandboxManager, connect_docker

    db = Database(f"sqlite:///{tmp_path / 'sandbox.db'}")
    db.migrate()
    client = connect_docker()
    manager = SandboxManager(
        client,
        SandboxRecords(db),
        SandboxPolicy(image=sandbox_image),
        instance=f"test{uuid.uuid4().hex[:8]}",
        disks=SandboxDisks(client, tmp_path / "sandbox-disks", owner_uid=SANDBOX_UID),
    )
    yield manager
    for container in manager._containers():
        manager._remove(container)
    db.dispose()

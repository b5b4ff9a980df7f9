"""The store backends a bench measures: SQLite always, PostgreSQL when DOCKHAND_TEST_POSTGRES_URL is set (each on a
fresh database, dropped afterwards)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.store import fresh_postgres_database

POSTGRES_ENV = "DOCKHAND_TEST_POSTGRES_URL"


def each_backend(prefix: str) -> Iterator[tuple[str, Path]]:
    """(backend, a fresh temporary directory) for each backend; says so when PostgreSQL is skipped."""
    for backend in ["sqlite"] + (["postgresql"] if os.environ.get(POSTGRES_ENV) else []):
        with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
            yield backend, Path(tmp)
    if not os.environ.get(POSTGRES_ENV):
        print(f"PostgreSQL skipped: {POSTGRES_ENV} is not set")


@contextmanager
def fresh_database(backend: str, tmp: Path) -> Iterator[str]:
    """The URL of a new, empty database on `backend` (SQLite: a file in `tmp`)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'bench.db'}"
        return
    with fresh_postgres_database(os.environ[POSTGRES_ENV], prefix="dockhand_bench") as url:
        yield url

"""Operators' sandbox commands: image build, sandbox exec / list / destroy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import HOST_CA_BUNDLE
from tests.support.cli import Invoke, cli_invoker
from tests.support.store import sql_core

pytestmark = pytest.mark.slow


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Docker-heavy tests run on SQLite only: the store's backends are covered by the store and queue tests."""
    return sqlite_url


@pytest.fixture
def cli(tmp_path: Path, sqlite_url: str, sandbox_image: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Invoke]:
    extra = {"DOCKHAND_SANDBOX_CA_BUNDLE": HOST_CA_BUNDLE} if HOST_CA_BUNDLE.exists() else {}
    invoke = cli_invoker(monkeypatch, tmp_path, sqlite_url, **extra)
    yield invoke
    for sandbox in json.loads(invoke("sandbox", "list", "--json").output)["sandboxes"]:
        invoke("sandbox", "destroy", sandbox["id"])


def test_image_build_is_a_no_op_when_up_to_date(cli, sandbox_image: str) -> None:  # type: ignore[no-untyped-def]
    assert json.loads(cli("image", "build", "--json").output) == {"tag": sandbox_image, "built": False}


def test_sandbox_exec_creates_streams_and_exits_with_the_code(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("sandbox", "exec", "ops-1", "--", "sh", "-c", "echo hello; echo oops >&2; exit 3", code=3)
    assert "hello" in result.output and "oops" in result.output
    assert "10001" in cli("sandbox", "exec", "ops-1", "--", "id", "-u").output
    [listed] = json.loads(cli("sandbox", "list", "--json").output)["sandboxes"]
    assert listed["id"] == "ops-1" and listed["state"] == "running" and listed["container_id"]
    assert listed["image"].startswith("dockhand-sandbox:")
    assert "ops-1" in cli("sandbox", "list").output
    cli("sandbox", "destroy", "ops-1")
    assert "no sandboxes" in cli("sandbox", "list").output
    assert "no sandbox ops-1" in cli("sandbox", "destroy", "ops-1", code=2).output


def test_sandbox_exec_reports_a_timeout(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("sandbox", "exec", "ops-2", "--timeout", "1", "--", "sleep", "60", code=124)
    assert "timed out" in result.output


def test_http_routes_use_the_real_backend(core_factory, sandbox_image: str) -> None:  # type: ignore[no-untyped-def]
    import httpx

    from bot.http.app import create_app
    from sandbox.backend import dependency_cache, docker_backend
    from tests.support.server import serve_in_thread

    base = core_factory(sandbox_image=sandbox_image)
    core = sql_core(
        base.settings,
        sandboxes=lambda index: docker_backend(base.settings, index),
        caches=[dependency_cache(base.settings)],
    )
    try:
        core.sandboxes.get_or_create("via-http")  # type: ignore[union-attr]
        (base.settings.cache_dir / "some-entry").mkdir(parents=True)
        headers = {"Authorization": "Bearer t"}
        with serve_in_thread(create_app(core, api_token="t")) as url:
            listed = httpx.get(f"{url}/sandbox/list", headers=headers).json()["sandboxes"]
            assert [s["id"] for s in listed] == ["via-http"]
            assert httpx.get(f"{url}/status", headers=headers).json()["sandboxes"] == 1
            assert httpx.post(f"{url}/sandbox/via-http/destroy", headers=headers).json() == {"destroyed": "via-http"}
            assert httpx.post(f"{url}/sandbox/via-http/destroy", headers=headers).status_code == 404
            cleared = httpx.post(f"{url}/session/clear", headers=headers).json()  # the warm pool is a cache too
            assert cleared == {"cleared": {"dependencies": 1, "warm-pool": 0}}
            assert "dockhand_sandboxes 0.0" in httpx.get(f"{url}/metrics").text
    finally:
        core.stop()

"""`dockhand doctor` against the fakes of GitHub, Slack and Anthropic on loopback, the real Docker engine and
a real SQLite store: all ✓ with a good set-up, and each missing piece its own ✗ with a fix."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.doctor import Check, CheckState, run_checks
from core.models import Installation
from core.settings import Settings
from core.store.database import Database
from tests.conftest import make_settings
from tests.support.cli import cli_invoker
from tests.support.fake_anthropic import FakeAnthropic, running_fake_anthropic
from tests.support.fake_github import FakeGitHub, running_fake_github
from tests.support.fake_slack import FakeSlack, running_fake_slack

pytestmark = pytest.mark.slow


@dataclass
class Fakes:
    github: FakeGitHub
    slack: FakeSlack
    anthropic: FakeAnthropic
    env: dict[str, Any]  # the settings of a good set-up, pointing at them


@pytest.fixture
def fakes(tmp_path: Path, sandbox_image: str) -> Iterator[Fakes]:
    with (
        running_fake_github() as (github, github_url),
        running_fake_slack() as (slack, slack_url),
        running_fake_anthropic() as (anthropic, anthropic_url),
    ):
        github.tokens.add("ghp_doctor")
        env = {
            "github_api_url": github_url, "github_token": "ghp_doctor", "github_webhook_secret": "whsec",
            "slack_api_url": slack_url.rstrip("/") + "/api/", "slack_bot_token": "xoxb-test",
            "slack_signing_secret": "signing", "anthropic_base_url": anthropic_url, "anthropic_api_key": "sk-ant-test",
            "sandbox_image": sandbox_image, "port": 1,  # nothing serves on port 1
        }  # fmt: skip
        yield Fakes(github, slack, anthropic, env)
        assert github.contract_errors == []


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    url = f"sqlite:///{tmp_path / 'dockhand.db'}"
    made = make_settings(tmp_path / "data", url, **overrides)
    made.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    migrated(made.effective_database_url)  # the store exists, migrated, as `serve` leaves it
    return made


def migrated(url: str) -> None:
    db = Database(url)
    db.migrate()
    db.dispose()


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {f"{c.area} {c.name}": c for c in checks}


def test_a_good_set_up_is_all_ready(fakes: Fakes, tmp_path: Path) -> None:
    checks = by_name(run_checks(settings(tmp_path, **fakes.env)))
    for name in ("python version", "python packages", "database reachable", "database migrations",
                 "docker reachable", "docker sandbox image", "data directory", "github token",
                 "github webhook secret", "slack auth.test", "slack scopes", "slack requests",
                 "anthropic api key", "anthropic model"):  # fmt: skip
        assert checks[name].state is CheckState.OK, checks[name]
    assert "dockhand-test" in checks["github token"].detail  # who the token is, as GitHub said
    assert checks["service running"].state is CheckState.WARN and "dockhand serve" in checks["service running"].fix
    assert not [c for c in checks.values() if c.state is CheckState.FAIL]


def test_each_missing_piece_is_its_own_failure_with_a_fix(fakes: Fakes, tmp_path: Path) -> None:
    fakes.slack.scopes = ["chat:write", "commands"]
    env = fakes.env | {
        "github_token": "ghp_revoked", "github_webhook_secret": None, "anthropic_api_key": "sk-ant-wrong",
        "sandbox_image": "dockhand-sandbox:no-such-tag",
        "agent_model": "claude-no-such-model",
    }  # fmt: skip
    checks = by_name(run_checks(settings(tmp_path, **env)))
    failed = {name for name, c in checks.items() if c.state is CheckState.FAIL}
    assert failed == {
        "github token", "github webhook secret", "slack scopes", "anthropic api key", "docker sandbox image",
    }, checks  # fmt: skip
    assert "401" in checks["github token"].detail and checks["github token"].fix
    assert "app_mentions:read" in checks["slack scopes"].detail and "usergroups:read" in checks["slack scopes"].detail
    assert "401" in checks["anthropic api key"].detail and "ANTHROPIC_API_KEY" in checks["anthropic api key"].fix
    assert "pull or build" in checks["docker sandbox image"].fix
    assert all(checks[name].fix for name in failed)
    # No secret appears in what the doctor prints.
    text = json.dumps([c.as_dict() for c in checks.values()])
    assert "ghp_revoked" not in text and "sk-ant-wrong" not in text and "xoxb-test" not in text


def test_a_github_app_installation_is_checked_for_the_permissions_dockhand_needs(fakes: Fakes, tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "app.pem").write_bytes(pem)
    fakes.github.add_app(42, public.decode(), installation_id=99)
    env = fakes.env | {"github_token": None, "github_app_id": 42, "github_app_private_key_path": tmp_path / "app.pem"}
    made = settings(tmp_path, **env)
    assert by_name(run_checks(made))["github app"].state is CheckState.WARN  # no installation seen yet
    db = Database(made.effective_database_url)
    with db.write() as session:
        session.add(Installation(id=99, account="acme", repositories=["acme/api"]))
    db.dispose()
    assert by_name(run_checks(made))["github installation 99"].state is CheckState.OK
    del fakes.github.installation_permissions["checks"]
    fakes.github.installation_permissions["pull_requests"] = "read"
    lacking = by_name(run_checks(made))["github installation 99"]
    assert lacking.state is CheckState.FAIL and lacking.detail == "lacks pull_requests: write, checks: write"


def test_unreachable_services_are_one_line_each(tmp_path: Path) -> None:
    env = {
        "github_api_url": "http://127.0.0.1:1", "github_token": "ghp_x", "slack_api_url": "http://127.0.0.1:1/api/",
        "slack_bot_token": "xoxb-x", "slack_signing_secret": "s", "anthropic_base_url": "http://127.0.0.1:1",
        "anthropic_api_key": "sk-ant-x",
        "port": 1,
    }  # fmt: skip
    checks = by_name(run_checks(settings(tmp_path, **env)))
    for name in ("github token", "slack auth.test", "anthropic api key"):
        assert checks[name].state is CheckState.FAIL and "127.0.0.1:1" in checks[name].detail, checks[name]
        assert "\n" not in checks[name].detail and "Traceback" not in checks[name].detail


def test_the_command_prints_marks_and_fixes_and_exits_by_what_is_missing(
    fakes: Fakes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    migrated(url)
    good = dict(fakes.env)
    invoke = cli_invoker(monkeypatch, tmp_path, url, **{_env(k): v for k, v in good.items()})
    out = invoke("doctor").stdout
    assert "✓ github" in out and "ready:" in out and "not ready" not in out
    report = json.loads(invoke("doctor", "--json").stdout)
    assert report["ok"] is True and {c["area"] for c in report["checks"]} >= {"docker", "slack", "anthropic"}
    revoked = good | {"slack_bot_token": "xoxb-no"}
    bad = cli_invoker(monkeypatch, tmp_path, url, **{_env(k): v for k, v in revoked.items()})
    out = bad("doctor", code=1).stdout
    assert "✗ slack" in out and "fix: reinstall the app" in out and "not ready" in out


def _env(field: str) -> str:
    vendor = ("github_token", "github_webhook_secret", "github_api_url", "slack_api_url", "slack_bot_token",
              "slack_signing_secret", "anthropic_api_key", "anthropic_base_url")  # fmt: skip
    return field.upper() if field in vendor else f"DOCKHAND_{field.upper()}"


def test_a_cloud_model_provider_is_checked_for_what_its_client_needs(tmp_path: Path) -> None:
    import importlib.util

    vertex = {"model_provider": "vertex", "vertex_project_id": "acme-dockhand", "vertex_region": "us",
              "vertex_access_token": "ya29.x", "port": 1}  # fmt: skip
    check = by_name(run_checks(settings(tmp_path / "v", **vertex)))["model vertex"]
    assert check.state is CheckState.OK and "not called" in check.detail
    bedrock = by_name(run_checks(settings(tmp_path / "b", model_provider="bedrock", bedrock_region="eu-west-1")))
    if importlib.util.find_spec("botocore") is None:
        assert bedrock["model bedrock"].state is CheckState.FAIL
        assert "pip install 'dockhand[bedrock]'" in bedrock["model bedrock"].detail

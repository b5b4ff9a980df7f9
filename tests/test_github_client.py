"""PyGithub, through dockhand's client, against a fake GitHub that holds it to GitHub's REST contract."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from bot.github.authorise import may_trigger
from bot.github.client import GitHubClient, GitHubError
from bot.github.events import Actor
from core.settings import Settings
from tests.support.fake_github import FakeGitHub, running_fake_github

REPO = "acme/api"


@pytest.fixture
def github(tmp_path: Path) -> Iterator[tuple[FakeGitHub, GitHubClient]]:
    fake = FakeGitHub()
    fake.add_repo(REPO)
    fake.issues[(REPO, 12)] = {"title": "Off by one", "body": "add() subtracts", "user": {"login": "alice"}}
    fake.permissions.update({(REPO, "alice"): "write", (REPO, "bob"): "read", (REPO, "root"): "admin"})
    with running_fake_github(fake) as (fake, url):
        settings = Settings.load(
            _env_file=None, data_dir=tmp_path, github_api_url=url, github_token=SecretStr("ghp_fake_token")
        )
        client = GitHubClient.from_settings(settings, throttle=False)
        yield fake, client
        client.close()
    assert fake.contract_errors == []


def test_permissions(github: tuple[FakeGitHub, GitHubClient]) -> None:
    fake, client = github
    assert client.permission(REPO, "alice") == "write"
    assert client.permission(REPO, "bob") == "read"
    assert client.permission(REPO, "stranger") == "none"
    assert ("GET", f"/repos/{REPO}/collaborators/alice/permission", None) in fake.requests


def test_one_progress_comment_edited_in_place(github: tuple[FakeGitHub, GitHubClient]) -> None:
    fake, client = github
    comment_id = client.comment(REPO, 12, "- [ ] checkout\n- [ ] test")
    client.edit_comment(REPO, 12, comment_id, "- [x] checkout\n- [ ] test")
    client.edit_comment(REPO, 12, comment_id, "- [x] checkout\n- [x] test\n\n**Done**")
    assert list(fake.comments) == [comment_id]
    assert fake.comments[comment_id]["body"].endswith("**Done**") and fake.comments[comment_id]["edits"] == 2
    with pytest.raises(GitHubError) as err:
        client.comment(REPO, 999, "no such issue")
    assert err.value.status == 404


def test_status_and_pull_request(github: tuple[FakeGitHub, GitHubClient]) -> None:
    fake, client = github
    client.status(
        REPO,
        "a" * 40,
        "success",
        context="dockhand/tests",
        description="3 passed",
        target_url="https://dockhand.invalid/task/1",
    )
    assert fake.statuses == [
        {
            "repo": REPO,
            "sha": "a" * 40,
            "state": "success",
            "context": "dockhand/tests",
            "description": "3 passed",
            "target_url": "https://dockhand.invalid/task/1",
        }
    ]
    pull = client.open_pull_request(
        REPO, head="dockhand/issue-12-off-by-one", base="main", title="Fix add", body="Fixes #12"
    )
    assert pull.number == 13 and pull.url.endswith("/pull/13")
    assert fake.pulls[(REPO, 13)]["head"] == "dockhand/issue-12-off-by-one"


def test_retries_honour_retry_after(github: tuple[FakeGitHub, GitHubClient]) -> None:
    fake, client = github
    fake.fail_next = [(502, {}), (429, {"retry-after": "0"})]
    assert client.permission(REPO, "root") == "admin"
    assert fake.fail_next == []


def test_bad_credentials_are_a_clear_error(tmp_path: Path) -> None:
    fake = FakeGitHub()
    fake.add_repo(REPO)
    with running_fake_github(fake) as (fake, url):
        settings = Settings.load(
            _env_file=None, data_dir=tmp_path, github_api_url=url, github_token=SecretStr("ghp_wrong")
        )
        client = GitHubClient.from_settings(settings, throttle=False)
        with pytest.raises(GitHubError, match="401 Bad credentials"):
            client.comment(REPO, 1, "hi")


def test_the_fake_enforces_the_contract() -> None:
    fake = FakeGitHub()
    fake.add_repo(REPO)
    with running_fake_github(fake) as (fake, url):
        auth = {"Authorization": "token ghp_fake_token"}
        bad = httpx.post(f"{url}/repos/{REPO}/statuses/abc", json={"state": "great"}, headers=auth)
        assert bad.status_code == 422 and "great" in str(bad.json()["errors"])
        assert httpx.get(f"{url}/repos/{REPO}/no/such/route", headers=auth).status_code == 404
        assert httpx.get(f"{url}/repos/{REPO}").status_code == 401


def test_only_writers_may_trigger(github: tuple[FakeGitHub, GitHubClient]) -> None:
    fake, client = github
    alice = Actor(login="alice", is_bot=False, association="COLLABORATOR")
    bob = Actor(login="bob", is_bot=False, association="COLLABORATOR")
    outsider = Actor(login="eve", is_bot=False, association="NONE")
    bot = Actor(login="dockhand[bot]", is_bot=True, association="NONE")
    assert may_trigger(alice, REPO, client.permission).allowed
    refused = may_trigger(bob, REPO, client.permission)
    assert not refused.allowed and "has read" in refused.reason
    before = len(fake.requests)
    assert not may_trigger(outsider, REPO, client.permission).allowed
    assert not may_trigger(bot, REPO, client.permission).allowed
    assert len(fake.requests) == before, "association and bot checks need no API call"


def test_an_unreachable_github_is_one_line_naming_the_host(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from slack_sdk import WebClient

    from bot.slack.threads import SlackThreads

    settings = Settings.load(
        _env_file=None, data_dir=tmp_path, github_api_url="http://127.0.0.1:1", github_token=SecretStr("ghp_x")
    )
    client = GitHubClient.from_settings(settings, throttle=False)
    with pytest.raises(GitHubError) as failed:
        client.comment(REPO, 1, "hello")
    assert str(failed.value).endswith("cannot reach GitHub at 127.0.0.1:1: connection refused"), failed.value
    assert "\n" not in str(failed.value)
    client.close()
    # Slack the same: a warning of one line, and the caller goes on.
    slack = WebClient(token="xoxb-x", base_url="http://127.0.0.1:1/api/", timeout=5)
    assert SlackThreads._call("post progress", lambda: slack.chat_postMessage(channel="C1", text="x")) is None
    [record] = [r for r in caplog.records if "could not post progress" in r.getMessage()]
    assert "cannot reach Slack" in record.getMessage() and record.exc_info is None


def test_an_app_installation_token_is_minted_once_and_reminted_after_a_401(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from bot.github.client import app_installation_token

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    fake = FakeGitHub()
    fake.add_repo(REPO)
    fake.issues[(REPO, 12)] = {"title": "Off by one", "body": "", "user": {"login": "alice"}}
    fake.add_app(4242, public.decode(), installation_id=77)
    with running_fake_github(fake) as (fake, url):
        settings = Settings.load(
            _env_file=None, data_dir=tmp_path, github_api_url=url, github_app_id=4242,
            github_app_private_key=SecretStr(pem.decode()),
        )  # fmt: skip

        def minted() -> int:
            return len([p for m, p, _ in fake.requests if m == "POST" and p.endswith("/access_tokens")])

        for number in range(5):  # five pieces of work, each with a client of its own, as the intake makes them
            client = GitHubClient.from_settings(settings, installation_id=77, throttle=False)
            client.comment(REPO, 12, f"note {number}")
            client.close()
        with app_installation_token(settings, 77) as token:  # the host's git push uses the same token
            assert token in fake.installation_tokens
        assert minted() == 1
        fake.installation_tokens.clear()  # revoked: GitHub answers 401 to it
        client = GitHubClient.from_settings(settings, installation_id=77, throttle=False)
        with pytest.raises(GitHubError):
            client.comment(REPO, 12, "refused")
        client.close()
        client = GitHubClient.from_settings(settings, installation_id=77, throttle=False)
        client.comment(REPO, 12, "after a new token")
        client.close()
        assert minted() == 2
    assert fake.contract_errors == []

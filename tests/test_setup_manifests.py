"""`dockhand setup slack|github`: manifests that Slack's and GitHub's own rules accept (checked offline, rule by
rule, from their manifest references), for HTTP delivery and for Socket Mode."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bot.github.app_manifest import github_app_manifest
from bot.slack.manifest import slack_manifest
from tests.support.cli import cli_invoker

# Slack's bot-event → the scope it needs (https://api.slack.com/events), for the events dockhand could use.
EVENT_SCOPES = {"app_mention": "app_mentions:read", "message.channels": "channels:history"}
KNOWN_SLACK_SCOPES = {
    "app_mentions:read", "chat:write", "chat:write.public", "commands", "channels:history", "channels:read",
    "groups:history", "im:history", "reactions:write", "usergroups:read", "users:read",
}  # fmt: skip
# GitHub App permissions (https://docs.github.com/rest/apps/apps#create-a-github-app-from-a-manifest) and the
# permission each webhook event needs before an App may subscribe to it.
GITHUB_PERMISSION_NAMES = {
    "actions", "administration", "checks", "contents", "deployments", "issues", "metadata", "packages",
    "pages", "pull_requests", "repository_hooks", "repository_projects", "security_events", "statuses",
    "workflows", "members", "organization_administration",
}  # fmt: skip
EVENT_PERMISSIONS = {
    "issues": "issues", "issue_comment": "issues", "pull_request": "pull_requests", "push": "contents",
    "pull_request_review": "pull_requests", "check_run": "checks", "check_suite": "checks", "workflow_run": "actions",
}  # fmt: skip


def slack_manifest_errors(manifest: dict[str, Any]) -> list[str]:
    """What Slack's manifest validation would refuse, one line each."""
    errors: list[str] = []
    info = manifest.get("display_information") or {}
    if not 1 <= len(info.get("name", "")) <= 35:
        errors.append("display_information.name must be 1 to 35 characters")
    if len(info.get("description", "")) > 140:
        errors.append("display_information.description must be at most 140 characters")
    if "background_color" in info and not re.fullmatch(r"#(?:[0-9a-fA-F]{3}){1,2}", info["background_color"]):
        errors.append("background_color must be a hex colour")
    settings = manifest.get("settings") or {}
    socket = settings.get("socket_mode_enabled") is True
    scopes = set((manifest.get("oauth_config") or {}).get("scopes", {}).get("bot", []))
    errors += [f"unknown bot scope {s}" for s in scopes - KNOWN_SLACK_SCOPES]
    bot_user = (manifest.get("features") or {}).get("bot_user") or {}
    if scopes and not 1 <= len(bot_user.get("display_name", "")) <= 80:
        errors.append("features.bot_user.display_name is required (1 to 80 characters) with bot scopes")
    for command in (manifest.get("features") or {}).get("slash_commands", []):
        if not re.fullmatch(r"/[a-z0-9_-]{1,31}", command.get("command", "")):
            errors.append(f"slash command {command.get('command')!r} must be / and up to 31 lowercase characters")
        if not 1 <= len(command.get("description", "")) <= 2000 or len(command.get("usage_hint", "")) > 1000:
            errors.append("slash command description (1-2000) or usage_hint (≤1000) out of bounds")
        if "commands" not in scopes:
            errors.append("slash commands need the commands scope")
        errors += _url_errors(command.get("url"), socket, "slash command url")
    events = settings.get("event_subscriptions") or {}
    for event in events.get("bot_events", []):
        if EVENT_SCOPES.get(event) not in scopes:
            errors.append(f"bot event {event} needs the {EVENT_SCOPES.get(event)} scope")
    if events:
        errors += _url_errors(events.get("request_url"), socket, "event_subscriptions.request_url")
    interactivity = settings.get("interactivity") or {}
    if interactivity.get("is_enabled"):
        errors += _url_errors(interactivity.get("request_url"), socket, "interactivity.request_url")
    return errors


def _url_errors(url: Any, socket: bool, where: str) -> list[str]:
    if url is None:
        return [] if socket else [f"{where} is required without Socket Mode"]
    return [] if isinstance(url, str) and url.startswith("https://") else [f"{where} must be an https URL"]


def github_manifest_errors(manifest: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    permissions = manifest.get("default_permissions") or {}
    errors += [f"unknown permission {p}" for p in set(permissions) - GITHUB_PERMISSION_NAMES]
    errors += [
        f"{p}: {v} is not read/write/admin" for p, v in permissions.items() if v not in ("read", "write", "admin")
    ]
    for event in manifest.get("default_events", []):
        if EVENT_PERMISSIONS.get(event) not in permissions:
            errors.append(f"event {event} needs the {EVENT_PERMISSIONS.get(event)} permission")
    hook = manifest.get("hook_attributes") or {}
    if not str(hook.get("url", "")).startswith("https://"):
        errors.append("hook_attributes.url must be https")
    if not 1 <= len(manifest.get("name", "")) <= 34:
        errors.append("name must be 1 to 34 characters")
    return errors


def test_the_checkers_refuse_what_slack_and_github_would() -> None:
    broken = slack_manifest("https://dh.example.com")
    broken["features"]["slash_commands"][0]["command"] = "agent"
    broken["oauth_config"]["scopes"]["bot"].remove("app_mentions:read")
    broken["settings"]["interactivity"]["request_url"] = "http://dh.example.com/slack/events"
    assert len(slack_manifest_errors(broken)) == 3
    app = github_app_manifest("https://dh.example.com")
    del app["default_permissions"]["pull_requests"]
    assert github_manifest_errors(app) == [
        f"event {event} needs the pull_requests permission" for event in ("pull_request", "pull_request_review")
    ]


@pytest.mark.parametrize("url", ["https://dh.example.com", "https://dh.example.com/", None])
def test_the_slack_manifest_is_valid_for_http_and_socket_mode(url: str | None) -> None:
    manifest = slack_manifest(url)
    assert slack_manifest_errors(manifest) == []
    command = manifest["features"]["slash_commands"][0]
    assert command["command"] == "/agent"
    if url is None:
        assert manifest["settings"]["socket_mode_enabled"] is True and "url" not in command
    else:
        assert command["url"] == manifest["settings"]["interactivity"]["request_url"]
        assert command["url"] == "https://dh.example.com/slack/events"


def test_setup_commands_print_or_write_the_manifests(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoke = cli_invoker(monkeypatch, tmp_path, sqlite_url)
    printed = json.loads(invoke("setup", "slack", "--url", "https://dh.example.com").stdout)
    assert slack_manifest_errors(printed) == [] and printed["settings"]["socket_mode_enabled"] is False
    out = tmp_path / "slack.json"
    invoke("setup", "slack", "--out", str(out))
    assert json.loads(out.read_text())["settings"]["socket_mode_enabled"] is True
    github = json.loads(invoke("setup", "github", "--url", "https://dh.example.com").stdout)
    assert github_manifest_errors(github) == []
    assert github["hook_attributes"]["url"] == "https://dh.example.com/webhook/github"
    assert "http://" in invoke("setup", "slack", "--url", "http://dh.example.com", code=2).output
    invoke("setup", "github", code=2)


def test_the_github_app_manifest_flow_creates_the_app_and_stores_its_key_sealed(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loopback page posts the manifest to GitHub; GitHub's redirect brings a code; the code becomes the
    App, whose key and webhook secret land in the secret store (and work: a JWT with the key is accepted)."""
    import html
    import threading
    import urllib.error
    import urllib.request

    from bot.github.app_flow import ManifestFlow
    from core.secrets import load_master_key
    from core.states import SecretName
    from core.store.database import Database
    from core.store.secrets import SecretStore
    from tests.support.fake_github import FakeGitHub, running_fake_github

    with running_fake_github(FakeGitHub()) as (fake, api):
        db = Database(sqlite_url)
        db.migrate()
        store = SecretStore(db, load_master_key(None, tmp_path, create=True), tmp_path)
        flow = ManifestFlow(
            public_url="https://dh.example.com", api_url=api, web_url="https://github.example.com",
            organization="acme", on_created=lambda app: store.set(SecretName.GITHUB_APP_PRIVATE_KEY, app.pem),
        )  # fmt: skip
        flow.start()
        page = urllib.request.urlopen(flow.local_url, timeout=10).read().decode()
        action = re.search(r'action="([^"]+)"', page)
        manifest_value = re.search(r'name="manifest" value="([^"]+)"', page)
        assert action and manifest_value
        target = html.unescape(action[1])
        assert target.startswith("https://github.example.com/organizations/acme/settings/apps/new?state=")
        manifest = json.loads(html.unescape(manifest_value[1]))
        assert github_manifest_errors(manifest) == [] and manifest["redirect_url"] == f"{flow.local_url}callback"
        # GitHub, having made the App, sends the browser back with a code and the state it was given.
        state = target.split("state=", 1)[1]
        fake.manifest_codes["code123"] = manifest
        with pytest.raises(urllib.error.HTTPError) as refused:  # someone else's answer: refused, nothing stored
            urllib.request.urlopen(f"{flow.local_url}callback?code=code123&state=forged", timeout=10)
        assert refused.value.code == 400 and store.get(SecretName.GITHUB_APP_PRIVATE_KEY) is None
        done = threading.Thread(target=lambda: urllib.request.urlopen(
            f"{flow.local_url}callback?code=code123&state={state}", timeout=10).read())  # fmt: skip
        done.start()
        app = flow.wait(timeout=20)
        done.join()
        assert fake.created_apps == [manifest] and app.id >= 1000
        pem = store.get(SecretName.GITHUB_APP_PRIVATE_KEY)
        assert pem is not None and pem == app.pem and "PRIVATE KEY" in pem
        assert "pem" not in repr(app) and app.webhook_secret not in repr(app)
        db.dispose()


def test_a_code_github_does_not_know_ends_the_flow_with_its_answer(tmp_path: Path) -> None:
    import urllib.error
    import urllib.request

    from bot.github.app_flow import ManifestFlow, ManifestFlowError
    from tests.support.fake_github import running_fake_github

    with running_fake_github() as (_fake, api):
        flow = ManifestFlow(public_url="https://dh.example.com", api_url=api, on_created=lambda app: None)
        flow.start()
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(f"{flow.local_url}callback?code=nope&state={flow.state}", timeout=10)
        assert failed.value.code == 502
        with pytest.raises(ManifestFlowError, match="404"):
            flow.wait(timeout=5)

"""`dockhand setup slack|github`: the apps dockhand needs, as manifests to paste into Slack and GitHub."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated
from urllib.parse import urlparse

import typer

from bot.cli.context import fail
from bot.github.app_manifest import GITHUB_EVENTS, GITHUB_PERMISSIONS, WEBHOOK_PATH, github_app_manifest
from bot.slack.manifest import SLACK_PATH, slack_manifest

setup_app = typer.Typer(help="Manifests for the Slack app and the GitHub App dockhand needs.", no_args_is_help=True)

UrlOption = Annotated[
    str | None, typer.Option("--url", help="dockhand's public https URL (e.g. https://dockhand.example.com).")
]
OutOption = Annotated[Path | None, typer.Option("--out", help="Write the manifest to this file instead of printing.")]


@setup_app.command("slack")
def setup_slack(url: UrlOption = None, out: OutOption = None, name: str = "dockhand") -> None:
    """A Slack app manifest: /agent, the bot's scopes, mentions and buttons; Socket Mode without --url."""
    _check_url(url)
    text = json.dumps(slack_manifest(url, name), indent=2, ensure_ascii=False)
    _emit(text, out)
    typer.echo(
        "\nNext: api.slack.com/apps → Create New App → From a manifest → paste it; install it to the workspace; "
        "then set SLACK_BOT_TOKEN (OAuth & Permissions) and "
        + (
            f"SLACK_SIGNING_SECRET (Basic Information); Slack will call {url.rstrip('/')}{SLACK_PATH}."
            if url
            else "SLACK_APP_TOKEN (Basic Information → App-Level Tokens, scope connections:write) for Socket Mode."
        ),
        err=True,
    )


@setup_app.command("github")
def setup_github(
    url: UrlOption = None,
    out: OutOption = None,
    name: str = "dockhand",
    create: Annotated[
        bool, typer.Option("--create", help="Run GitHub's App manifest flow from a page on this machine.")
    ] = False,
    org: Annotated[str | None, typer.Option("--org", help="Create the App in this organization.")] = None,
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port of the local page (0: any).")] = 0,
    web_url: Annotated[str, typer.Option("--web-url", help="GitHub's web address (GitHub Enterprise).")] = (
        "https://github.com"
    ),
    wait: Annotated[float, typer.Option("--wait", min=1, help="Seconds to wait for GitHub's answer.")] = 900,
) -> None:
    """A GitHub App manifest (permissions, events, webhook URL), and how to create the App from it; with
    --create, the whole flow: the App is made on GitHub and its private key and webhook secret stored sealed."""
    if url is None:
        fail("--url is needed: GitHub delivers webhooks to dockhand's public https URL")
    _check_url(url)
    if create:
        _create_github_app(url, name=name, org=org, port=port, web_url=web_url, wait=wait)
        return
    _emit(json.dumps(github_app_manifest(url, name=name), indent=2), out)
    permissions = ", ".join(f"{k}: {v}" for k, v in GITHUB_PERMISSIONS.items())
    typer.echo(
        f"\nPermissions: {permissions}\nEvents: {', '.join(GITHUB_EVENTS)}\n"
        f"Webhook URL: {url.rstrip('/')}{WEBHOOK_PATH}, with a secret you choose (GITHUB_WEBHOOK_SECRET)\n"
        "Next: GitHub → Settings → Developer settings → GitHub Apps → New GitHub App with the values above (or post "
        "the manifest through GitHub's App manifest flow); generate a private key; install the App on your "
        "repositories; then set GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY_PATH, and run `dockhand doctor`.",
        err=True,
    )


def _check_url(url: str | None) -> None:
    if url is None:
        return
    parsed = urlparse(url)
    if parsed.scheme != "https" or not parsed.hostname or parsed.query or parsed.fragment:
        fail(f"--url {url!r}: give dockhand's public https URL, e.g. https://dockhand.example.com")


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        typer.echo(text)
        return
    out.write_text(text + "\n")
    typer.echo(f"wrote {out}", err=True)


def _create_github_app(url: str, *, name: str, org: str | None, port: int, web_url: str, wait: float) -> None:
    from bot.cli.secrets import _settings, _store
    from bot.github.app_flow import CreatedApp, ManifestFlow
    from core.errors import DockhandError
    from core.states import SecretName

    settings = _settings()
    store = _store(settings, create_key=True)

    def keep(app: CreatedApp) -> None:
        store.set(SecretName.GITHUB_APP_PRIVATE_KEY, app.pem)
        store.set(SecretName.GITHUB_WEBHOOK_SECRET, app.webhook_secret)

    flow = ManifestFlow(
        public_url=url, api_url=settings.github_api_url, web_url=web_url, organization=org,
        on_created=keep, port=port, name=name,
    )  # fmt: skip
    flow.start()
    typer.echo(f"Open {flow.local_url} in a browser signed in to GitHub (waiting up to {wait:.0f}s) …", err=True)
    try:
        app = flow.wait(wait)
    except DockhandError as exc:
        fail(str(exc))
    typer.echo(
        f"Created GitHub App {app.name} (id {app.id}) {app.html_url}; its private key and webhook secret are stored "
        f"sealed. Set GITHUB_APP_ID={app.id}, install the App on your repositories, then run `dockhand doctor`."
    )

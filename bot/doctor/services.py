"""Checks of the services dockhand talks to, asking only what costs nothing: GitHub, Slack, the model's
API, and dockhand's own `serve`."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import TYPE_CHECKING

from bot.github.app_manifest import GITHUB_PERMISSIONS
from bot.slack.manifest import SLACK_SCOPES, THREAD_SCOPES
from core.settings import Settings

if TYPE_CHECKING:
    pass

from bot.doctor.report import Check, CheckState, api_message, secret_text, short_error

TIMEOUT_SECONDS = 10.0


def check_github(settings: Settings) -> Iterator[Check]:
    from github import Auth, Github, GithubException, GithubIntegration

    app = settings.github_app_id is not None and settings.app_private_key() is not None
    if not app and settings.github_token is None:
        yield Check(
            "github",
            "credentials",
            CheckState.SKIP,
            "not configured (GitHub features are off)",
            "set GITHUB_TOKEN, or GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY_PATH",
        )
        return
    base = settings.github_api_url.rstrip("/")
    if app:
        auth = Auth.AppAuth(settings.github_app_id or 0, settings.app_private_key() or "")
        integration = GithubIntegration(auth=auth, base_url=base, timeout=int(TIMEOUT_SECONDS), retry=0)
        installations = _known_installations(settings)
        try:
            if not installations:
                yield Check(
                    "github",
                    "app",
                    CheckState.WARN,
                    f"App {settings.github_app_id}: no installation seen yet",
                    "install the App on a repository; its webhook tells dockhand the installation",
                )
            for installation in installations[:5]:
                token = integration.get_access_token(installation)
                yield _permissions(installation, dict(token.permissions or {}))
        except GithubException as exc:
            yield Check(
                "github",
                "app",
                CheckState.FAIL,
                f"{base}: {exc.status} {api_message(exc)}",
                "check GITHUB_APP_ID and the private key (GitHub → the App → Private keys)",
            )
        except Exception as exc:  # unreachable host, TLS, timeouts: one line
            yield Check(
                "github", "app", CheckState.FAIL, f"{base}: {short_error(exc)}", "check GITHUB_API_URL and network"
            )
        finally:
            integration.close()
    else:
        client = Github(base_url=base, auth=Auth.Token(secret_text(settings.github_token)), timeout=10, retry=None)
        try:
            yield Check("github", "token", CheckState.OK, f"authenticated as {client.get_user().login}")
        except GithubException as exc:
            yield Check(
                "github",
                "token",
                CheckState.FAIL,
                f"{base}: {exc.status} {api_message(exc)}",
                "make a new token with repo scope (or contents, issues, pull requests: write)",
            )
        except Exception as exc:
            yield Check(
                "github", "token", CheckState.FAIL, f"{base}: {short_error(exc)}", "check GITHUB_API_URL and network"
            )
        finally:
            client.close()
    if settings.github_webhook_secret is None:
        yield Check(
            "github",
            "webhook secret",
            CheckState.FAIL,
            "not set: webhooks cannot be verified",
            "set GITHUB_WEBHOOK_SECRET to the secret of the App's (or repository's) webhook",
        )
    else:
        yield Check("github", "webhook secret", CheckState.OK, "set")


def _permissions(installation: int, granted: dict[str, str]) -> Check:
    rank = {"read": 1, "write": 2, "admin": 3}
    short = [
        f"{name}: {level}"
        for name, level in GITHUB_PERMISSIONS.items()
        if rank.get(granted.get(name, ""), 0) < rank[level]
    ]
    if short:
        return Check(
            "github",
            f"installation {installation}",
            CheckState.FAIL,
            f"lacks {', '.join(short)}",
            "grant them in the App's settings → Permissions, then accept them on the installation",
        )
    return Check("github", f"installation {installation}", CheckState.OK, "has every permission dockhand needs")


def _known_installations(settings: Settings) -> list[int]:
    from core.store.probe import active_installations

    return active_installations(settings.effective_database_url)


def check_slack(settings: Settings) -> Iterator[Check]:
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    if settings.slack_bot_token is None:
        yield Check(
            "slack",
            "bot token",
            CheckState.SKIP,
            "not configured (Slack is off)",
            "set SLACK_BOT_TOKEN (and SLACK_SIGNING_SECRET or SLACK_APP_TOKEN); `dockhand setup slack`",
        )
        return
    client = WebClient(token=secret_text(settings.slack_bot_token), base_url=settings.slack_api_url, timeout=10)
    try:
        answer = client.auth_test()
    except SlackApiError as exc:
        yield Check(
            "slack",
            "auth.test",
            CheckState.FAIL,
            f"Slack said {exc.response.get('error')}",
            "reinstall the app and copy its Bot User OAuth Token into SLACK_BOT_TOKEN",
        )
        return
    except Exception as exc:
        yield Check(
            "slack",
            "auth.test",
            CheckState.FAIL,
            f"{settings.slack_api_url}: {short_error(exc)}",
            "check SLACK_API_URL and network",
        )
        return
    yield Check("slack", "auth.test", CheckState.OK, f"bot {answer.get('user')} in {answer.get('team')}")
    header = next((v for k, v in (answer.headers or {}).items() if k.lower() == "x-oauth-scopes"), None)
    granted = {s.strip() for s in str(header or "").split(",") if s.strip()}
    missing = [s for s in SLACK_SCOPES if s not in granted]
    if header is None:
        yield Check("slack", "scopes", CheckState.WARN, "Slack did not say which scopes the token has")
    elif missing:
        yield Check(
            "slack",
            "scopes",
            CheckState.FAIL,
            f"missing {', '.join(missing)}",
            "add them under OAuth & Permissions (or reapply `dockhand setup slack`) and reinstall",
        )
    elif thread_missing := [s for s in THREAD_SCOPES if s not in granted]:
        yield Check(
            "slack",
            "scopes",
            CheckState.WARN,
            f"missing {', '.join(thread_missing)}: a request made in a thread comes without the thread's messages",
            "add them under OAuth & Permissions (or reapply `dockhand setup slack`) and reinstall",
        )
    else:
        yield Check("slack", "scopes", CheckState.OK, ", ".join(sorted(granted & {*SLACK_SCOPES, *THREAD_SCOPES})))
    if settings.slack_signing_secret is None and settings.slack_app_token is None:
        yield Check(
            "slack",
            "requests",
            CheckState.FAIL,
            "neither a signing secret nor an app token",
            "set SLACK_SIGNING_SECRET (HTTP) or SLACK_APP_TOKEN (Socket Mode)",
        )
    else:
        how = "Socket Mode (app token)" if settings.slack_app_token is not None else "HTTP (signing secret)"
        yield Check("slack", "requests", CheckState.OK, how)


def check_model(settings: Settings) -> Iterator[Check]:
    if settings.model_provider != "anthropic":
        yield from _cloud_model(settings)
        return
    if settings.anthropic_api_key is None:
        yield Check(
            "anthropic",
            "api key",
            CheckState.SKIP,
            "not configured (resolve and review are off)",
            "set ANTHROPIC_API_KEY",
        )
        return
    import anthropic

    client = anthropic.Anthropic(
        api_key=secret_text(settings.anthropic_api_key),
        base_url=settings.anthropic_base_url,
        max_retries=0,
        timeout=TIMEOUT_SECONDS,
    )
    try:
        models = [model.id for model in client.models.list(limit=100).data]
    except anthropic.APIStatusError as exc:
        yield Check(
            "anthropic",
            "api key",
            CheckState.FAIL,
            f"{exc.status_code} {short_error(exc)}",
            "make a new key in the Anthropic console and set ANTHROPIC_API_KEY",
        )
        return
    except anthropic.APIError as exc:
        yield Check(
            "anthropic",
            "api key",
            CheckState.FAIL,
            f"{settings.anthropic_base_url}: {short_error(exc)}",
            "check ANTHROPIC_BASE_URL and network",
        )
        return
    finally:
        client.close()
    yield Check("anthropic", "api key", CheckState.OK, f"{len(models)} models available")
    if settings.agent_model in models:
        yield Check("anthropic", "model", CheckState.OK, settings.agent_model)
    else:
        yield Check(
            "anthropic",
            "model",
            CheckState.WARN,
            f"{settings.agent_model} is not in the models list",
            f"set DOCKHAND_AGENT_MODEL to one of: {', '.join(models[:5])}",
        )


def _cloud_model(settings: Settings) -> Iterator[Check]:
    """Bedrock or Vertex: the SDK's client can be made (its extra installed, a region); no call is made, since
    neither has a free listing through the anthropic SDK."""
    from core.model_provider import missing_model, model_client

    provider = settings.model_provider
    if missing := missing_model(settings):  # the check every submission makes, and what it says to do
        yield Check("model", provider, CheckState.FAIL, missing, "install or set what it names")
        return
    try:
        model_client(settings).close()
    except Exception as exc:  # e.g. a region the SDK refuses: one line
        yield Check("model", provider, CheckState.FAIL, short_error(exc), "check the provider's settings")
        return
    yield Check("model", provider, CheckState.OK, f"client ready for {settings.agent_model} (not called)")


def service_answers(settings: Settings, timeout: float = 2.0) -> tuple[bool, str]:
    """Whether `dockhand serve` answers its health check here, and the URL asked."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    url = f"http://{host}:{settings.port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200, url
    except (urllib.error.URLError, OSError):
        return False, url


def check_service(settings: Settings) -> Iterator[Check]:
    running, url = service_answers(settings)
    if running:
        yield Check("service", "running", CheckState.OK, f"dockhand serve answers at {url}")
    else:
        yield Check(
            "service",
            "running",
            CheckState.WARN,
            f"nothing answers at {url}: tasks wait until a worker runs",
            "start `dockhand serve` (or `dockhand worker` beside one)",
        )

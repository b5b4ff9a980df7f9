"""`dockhand doctor`: is this installation ready, and if not, what to do about it.

Each check is read only (it never creates the database, the image or a key) and ends in one `Check`:
ok, a failure of something dockhand needs (the command then exits non-zero), a warning, or skipped
because the feature is not configured. A failure and a warning carry the fix in one line. The cloud
services are asked only what costs nothing: GitHub `GET /user` or an installation token, Slack
`auth.test`, Anthropic's models list.
"""

from __future__ import annotations

import importlib.metadata
import os
import stat
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bot.github.app_manifest import GITHUB_PERMISSIONS
from bot.slack.manifest import SLACK_SCOPES
from core.settings import Settings

if TYPE_CHECKING:
    import docker

PACKAGES = ("slack-bolt", "textual", "anthropic", "PyGithub", "docker", "APScheduler", "sqlmodel", "cryptography")
TIMEOUT_SECONDS = 10.0


class CheckState(StrEnum):
    OK = "ok"
    FAIL = "fail"  # something dockhand needs is missing or broken: `doctor` exits non-zero
    WARN = "warn"  # works, but not as it should for a team (or something optional is broken)
    SKIP = "skip"  # not configured: that feature is off

    @property
    def mark(self) -> str:
        return {"ok": "✓", "fail": "✗", "warn": "!", "skip": "-"}[self.value]


@dataclass(frozen=True)
class Check:
    area: str
    name: str
    state: CheckState
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}


def run_checks(settings: Settings) -> list[Check]:
    checks: list[Check] = []
    for area in (_python, _database, _docker, _data_dir, _github, _slack, _anthropic, _service):
        checks += list(_guarded(area, settings))
    return checks


def _guarded(area: Callable[[Settings], Iterator[Check]], settings: Settings) -> Iterator[Check]:
    """A check that raised is that check's failure, not the doctor's crash."""
    name = area.__name__.strip("_").replace("_", " ")
    try:
        yield from area(settings)
    except Exception as exc:  # the doctor reports whatever went wrong, whatever it is
        yield Check(name, "check", CheckState.FAIL, f"{type(exc).__name__}: {_short(exc)}", "see the detail")


# --- this machine -------------------------------------------------------------------------------
def _python(settings: Settings) -> Iterator[Check]:
    yield Check("python", "version", CheckState.OK, "Python " + ".".join(map(str, sys.version_info[:3])))
    found, missing = [], []
    for name in PACKAGES:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    if missing:
        yield Check("python", "packages", CheckState.FAIL, f"missing: {', '.join(missing)}", "run scripts/setup")
    else:
        yield Check("python", "packages", CheckState.OK, ", ".join(found))


def _database(settings: Settings) -> Iterator[Check]:
    from core.migrate import current_revision, head_revision

    url = make_url(settings.effective_database_url)
    shown = url.render_as_string(hide_password=True)
    file = url.database if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") else None
    if file is not None and not Path(file).exists():
        yield Check(
            "database",
            "reachable",
            CheckState.FAIL,
            f"no database at {url.database}",
            "run `dockhand db upgrade` (or start `dockhand serve`, which does it)",
        )
        return
    engine = sa.create_engine(settings.effective_database_url, connect_args=_connect_timeout(url))
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        yield Check("database", "reachable", CheckState.OK, shown)
        current, head = current_revision(engine), head_revision()
    except sa.exc.SQLAlchemyError as exc:
        yield Check(
            "database",
            "reachable",
            CheckState.FAIL,
            f"{shown}: {_short(exc)}",
            "start the database server, or fix DOCKHAND_DATABASE_URL",
        )
        return
    finally:
        engine.dispose()
    if current == head:
        yield Check("database", "migrations", CheckState.OK, f"at {head}")
    else:
        yield Check(
            "database",
            "migrations",
            CheckState.FAIL,
            f"at {current or 'none'}, code expects {head}",
            "run `dockhand db upgrade` (serve does it on start)",
        )


def _connect_timeout(url: sa.URL) -> dict[str, Any]:
    return {"connect_timeout": 5} if url.get_backend_name() == "postgresql" else {}


def _docker(settings: Settings) -> Iterator[Check]:
    import docker

    from sandbox.errors import DockerUnavailableError
    from sandbox.firewall import IsolationError, missing_rules
    from sandbox.image import IMAGE_REPOSITORY
    from sandbox.manager import NETWORK, connect_docker

    try:
        client = connect_docker()
    except DockerUnavailableError as exc:
        yield Check(
            "docker",
            "reachable",
            CheckState.FAIL,
            _short(exc),
            "start the Docker engine (e.g. `scripts/services docker` as root) or set DOCKER_HOST",
        )
        return
    try:
        version = client.version().get("Version", "?")
        security = client.info().get("SecurityOptions") or []
        rootless = any("rootless" in str(option) for option in security)
        yield Check("docker", "reachable", CheckState.OK, f"engine {version}, {'rootless' if rootless else 'rootful'}")
        image = settings.sandbox_image or f"{IMAGE_REPOSITORY}:latest"
        try:
            client.images.get(image)
            yield Check("docker", "sandbox image", CheckState.OK, image)
        except docker.errors.ImageNotFound:
            fix = "run `dockhand image build`" if not settings.sandbox_image else f"pull or build {image}"
            yield Check("docker", "sandbox image", CheckState.FAIL, f"{image} is not on this engine", fix)
        networks = [n for n in client.networks.list(names=[NETWORK]) if n.name == NETWORK]
        if not networks:
            yield Check(
                "docker",
                "firewall",
                CheckState.WARN,
                f"network {NETWORK} not made yet",
                "it and its rules are made when the first sandbox starts (as root)",
            )
        elif rootless:
            yield Check("docker", "firewall", CheckState.SKIP, "rootless engine: its network is not the host's")
        else:
            try:
                missing = missing_rules(networks[0])
            except IsolationError as exc:
                missing = [str(exc)]
            if missing:
                yield Check(
                    "docker",
                    "firewall",
                    CheckState.WARN,
                    f"{len(missing)} isolation rule(s) missing",
                    "start dockhand as root once (it adds them), or accept DOCKHAND_SANDBOX_UNISOLATED_NETWORK",
                )
            else:
                yield Check("docker", "firewall", CheckState.OK, "sandboxes cannot reach this host or private ranges")
        yield _disk_limit(settings, client)
    finally:
        client.close()


def _disk_limit(settings: Settings, client: docker.DockerClient) -> Check:
    from core.sandboxing import size_in_bytes
    from sandbox.disk import DiskLimitMode, SandboxDisks
    from sandbox.live import SANDBOX_UID

    limit = settings.sandbox_disk_limit
    if size_in_bytes(limit) == 0:
        return Check("docker", "disk limit", CheckState.WARN, "DOCKHAND_SANDBOX_DISK_LIMIT=0: no limit")
    support = SandboxDisks(client, settings.data_dir / "sandbox-disks", owner_uid=SANDBOX_UID).support
    if support.mode is DiskLimitMode.NONE:
        return Check(
            "docker",
            "disk limit",
            CheckState.WARN,
            f"not enforced: {support.reason}",
            "run dockhand as root on the engine's host (with e2fsprogs), or keep Docker's volumes on XFS with pquota",
        )
    return Check("docker", "disk limit", CheckState.OK, f"{limit} per sandbox volume ({support.mode.value})")


def _data_dir(settings: Settings) -> Iterator[Check]:
    from core.api_token import token_path
    from core.secrets import key_file

    folder = settings.data_dir
    if not folder.is_dir():
        yield Check(
            "data",
            "directory",
            CheckState.WARN,
            f"{folder} does not exist yet",
            "it is made on first use; or set DOCKHAND_DATA_DIR",
        )
        return
    if not os.access(folder, os.W_OK):
        yield Check("data", "directory", CheckState.FAIL, f"{folder} is not writable", f"chown it to {_user()}")
    elif folder.stat().st_mode & stat.S_IWOTH:
        yield Check("data", "directory", CheckState.FAIL, f"{folder} is writable by anyone", f"chmod o-w {folder}")
    elif folder.stat().st_mode & 0o077:
        yield Check("data", "directory", CheckState.WARN, f"{folder} is open to other local users (task logs, "
                    "payloads and the audit trail are in it)", f"chmod 700 {folder}")  # fmt: skip
    else:
        yield Check("data", "directory", CheckState.OK, str(folder))
    for name, path in (("master key", key_file(folder)), ("API token", token_path(settings))):
        if not path.exists():
            continue
        if path.stat().st_mode & 0o077:
            yield Check("data", name, CheckState.FAIL, f"{path} is readable by others", f"chmod 600 {path}")
        else:
            yield Check("data", name, CheckState.OK, f"{path} (owner only)")


# --- the cloud services -------------------------------------------------------------------------
def _github(settings: Settings) -> Iterator[Check]:
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
                f"{base}: {exc.status} {_message(exc)}",
                "check GITHUB_APP_ID and the private key (GitHub → the App → Private keys)",
            )
        except Exception as exc:  # unreachable host, TLS, timeouts: one line
            yield Check("github", "app", CheckState.FAIL, f"{base}: {_short(exc)}", "check GITHUB_API_URL and network")
        finally:
            integration.close()
    else:
        client = Github(base_url=base, auth=Auth.Token(_secret(settings.github_token)), timeout=10, retry=None)
        try:
            yield Check("github", "token", CheckState.OK, f"authenticated as {client.get_user().login}")
        except GithubException as exc:
            yield Check(
                "github",
                "token",
                CheckState.FAIL,
                f"{base}: {exc.status} {_message(exc)}",
                "make a new token with repo scope (or contents, issues, pull requests: write)",
            )
        except Exception as exc:
            yield Check(
                "github", "token", CheckState.FAIL, f"{base}: {_short(exc)}", "check GITHUB_API_URL and network"
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
    from sqlmodel import col, select

    from core.models import Installation

    engine = sa.create_engine(settings.effective_database_url)
    try:
        with engine.connect() as connection:
            found = connection.execute(select(Installation.id).where(col(Installation.active).is_(True)))
            return [int(installation_id) for (installation_id,) in found]
    except sa.exc.SQLAlchemyError:
        return []
    finally:
        engine.dispose()


def _slack(settings: Settings) -> Iterator[Check]:
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
    client = WebClient(token=_secret(settings.slack_bot_token), base_url=settings.slack_api_url, timeout=10)
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
            f"{settings.slack_api_url}: {_short(exc)}",
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
    else:
        yield Check("slack", "scopes", CheckState.OK, ", ".join(sorted(granted & set(SLACK_SCOPES))))
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


def _anthropic(settings: Settings) -> Iterator[Check]:
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
        api_key=_secret(settings.anthropic_api_key),
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
            f"{exc.status_code} {_short(exc)}",
            "make a new key in the Anthropic console and set ANTHROPIC_API_KEY",
        )
        return
    except anthropic.APIError as exc:
        yield Check(
            "anthropic",
            "api key",
            CheckState.FAIL,
            f"{settings.anthropic_base_url}: {_short(exc)}",
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
        yield Check("model", provider, CheckState.FAIL, _short(exc), "check the provider's settings")
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


def _service(settings: Settings) -> Iterator[Check]:
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


# --- helpers ------------------------------------------------------------------------------------
def _secret(value: Any) -> str:
    return str(value.get_secret_value()) if value is not None else ""


def _message(exc: Any) -> str:
    data = getattr(exc, "data", None)
    return str(data.get("message", "")) if isinstance(data, dict) else ""


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return "the user dockhand runs as"

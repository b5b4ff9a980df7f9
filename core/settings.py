"""dockhand's one settings object.

Built once at an entry point (`Settings.load()`) and passed down; nothing else reads the
environment. Vendor credentials keep the vendors' usual variable names; dockhand's own
settings are prefixed ``DOCKHAND_``.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as PydanticSettingsError

from core.errors import SettingsError


def _default_data_dir() -> Path:
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "dockhand"


def _vendor(name: str) -> Any:
    """A field read from a vendor's own variable name, without the DOCKHAND_ prefix."""
    return Field(default=None, validation_alias=AliasChoices(name))


class Settings(BaseSettings):
    """Everything dockhand can be told, validated at start-up."""

    model_config = SettingsConfigDict(
        env_prefix="DOCKHAND_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        # `GITHUB_APP_ID=` (as compose passes an unset variable) means unset, not an empty value.
        env_ignore_empty=True,
    )

    # --- dockhand's own ---------------------------------------------------------------
    data_dir: Path = Field(default_factory=_default_data_dir)
    """Where the SQLite database, the generated API token and task artifacts live."""
    database_url: str | None = None
    """SQLAlchemy URL; defaults to a SQLite file in the data directory."""

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str | None) -> str | None:
        """SQLite or PostgreSQL (through psycopg 3, the driver dockhand installs); `postgres://` and
        `postgresql://` as hosting providers write them mean the same."""
        if value is None or not value.strip():
            return None
        scheme, separator, rest = value.strip().partition("://")
        if not separator:
            raise ValueError("not a database URL: use sqlite:////path/to/dockhand.db or postgresql://user@host/db")
        if scheme in ("postgres", "postgresql", "postgresql+psycopg"):
            return f"postgresql+psycopg://{rest}"
        if scheme == "sqlite":
            return value.strip()
        raise ValueError(f"{scheme[:40]}:// is not supported: dockhand stores its state in SQLite or PostgreSQL")

    host: str = "127.0.0.1"
    """Interface `dockhand serve` listens on."""
    port: int = Field(default=8080, ge=1, le=65535)
    api_token: SecretStr | None = None
    master_key: SecretStr | None = None
    """Base64 of 32 random bytes sealing the secrets stored in the database (default: $DATA_DIR/master.key)."""
    """Bearer token for the admin API; generated into the data directory when unset."""
    workers: int = Field(default=2, ge=1, le=256)
    """Worker threads per process, i.e. tasks one process runs at once."""
    per_repo_limit: int = Field(default=2, ge=1, le=1000)
    """Tasks on one repository that may run at once, across all processes."""
    repo_tasks_per_hour: int = Field(default=10, ge=0)
    """Tasks one repository may get per hour from Slack, GitHub and the API (0: no limit)."""
    submissions_per_minute: int = Field(default=100, ge=0)
    """Tasks Slack, GitHub and the API may submit per minute together (0: no limit)."""
    lease_seconds: float = Field(default=10.0, gt=0.5, le=3600)
    """How long a claimed task stays owned without a heartbeat: a dead worker's task is taken over this long after
    its last heartbeat (sooner when a process sharing the data directory sees the worker is gone)."""
    heartbeat_seconds: float | None = Field(default=None, gt=0)
    """How often a worker renews its leases and looks for cancellations (default lease/4, at most 2 s)."""
    max_retries: int = Field(default=2, ge=0, le=100)
    """Default retries for a task whose run hit an unexpected error (a worker's death is a takeover, not a retry)."""
    max_takeovers: int = Field(default=3, ge=0, le=100)
    """Times a task is taken over from a dead worker (not counted as retries); the next death fails it."""
    retry_backoff_seconds: float = Field(default=10.0, ge=0)
    """First retry delay; doubles on each further retry."""
    retry_backoff_max_seconds: float = Field(default=600.0, ge=0)
    sweep_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    """How often expired leases are looked for (a cheap read unless one expired)."""
    poll_interval_seconds: float = Field(default=0.5, gt=0, le=60)
    """How often an idle worker looks for work that another process queued."""
    custom_timeout_seconds: float = Field(default=3600.0, gt=0)
    """Time limit of a `custom` task's command unless the task sets its own."""
    max_request_bytes: int = Field(default=1_000_000, ge=1024)
    """Largest JSON body the admin API accepts."""
    custom_runner: Literal["sandbox", "host"] = "sandbox"
    """Where `custom` commands run: a Docker sandbox, or (unsafe, for trusted single-user setups) the host."""
    sandbox_image: str | None = None
    """A ready sandbox image (e.g. from your registry); unset: build `dockhand-sandbox` locally from Debian."""
    sandbox_images: dict[str, str] = Field(default_factory=dict)
    """Per-language images (JSON, e.g. {"python": "registry.example/python:3.12"}); others use the default."""
    sandbox_ca_bundle: Path | None = None
    """Extra CA certificates (PEM) the sandbox image trusts, e.g. a TLS-intercepting proxy's."""
    sandbox_memory: str = Field(default="2g", pattern=r"^[0-9]+[kmg]?$")
    sandbox_cpus: float = Field(default=2.0, gt=0, le=256)
    sandbox_pids: int = Field(default=512, ge=16, le=100_000)
    sandbox_disk_limit: str = Field(default="10g", pattern=r"^[0-9]+[kmgt]?$")
    """What each of a sandbox's volumes (/workspace, its home) may fill on the host's disk; "0": no limit.
    A repository may ask for another in its .dockhand.toml (`[sandbox] disk`), up to the maximum below."""
    sandbox_disk_limit_max: str | None = Field(default=None, pattern=r"^[0-9]+[kmgt]?$")
    """The most a repository's .dockhand.toml may ask for (default: DOCKHAND_SANDBOX_DISK_LIMIT itself)."""
    sandbox_unisolated_network: bool = False
    """Allow sandbox network phases even when the sandbox network cannot be firewalled off this host and
    private ranges (needs root); off by default."""
    sandbox_idle_ttl_seconds: float = Field(default=1800.0, gt=0)
    """Idle sandboxes are removed after this long."""
    cache_ttl_seconds: float = Field(default=7 * 24 * 3600.0, gt=0)
    """Dependency-cache entries expire after this long."""
    snapshots: bool = True
    """Start sandboxes from per-repository snapshot images (the default branch's prepared dependencies)."""
    snapshot_max_size: str = Field(default="20g", pattern=r"^[0-9]+[kmgt]?$")
    """The total size of snapshot images kept; the least recently used go first."""
    warm_pool: int = Field(default=2, ge=0, le=64)
    """Workspaces kept ready, filled from recently used sandbox images and snapshots (0: none)."""
    debian_mirror: str = "http://deb.debian.org/debian"
    """Where `dockhand image build` fetches Debian packages."""
    debian_suite: str = "bookworm"
    bot_name: str = "dockhand"
    github_trigger_label: str = "dockhand"
    """An issue opened or labelled with this label is resolved."""
    github_push_branches: list[str] = Field(default_factory=list)
    """Branches whose pushes run the test pipeline (JSON list); empty: each repository's default branch."""
    github_reviews: bool = True
    """Review pull requests when they are opened or updated."""
    github_git_url: str = "https://github.com/"
    """Where repositories are cloned from and pushed to (`<url><owner>/<repo>.git`); change for GitHub Enterprise."""
    agent_model: str = "claude-sonnet-5-5"
    """The Anthropic model the agent runs on."""
    agent_max_turns: int = Field(default=60, ge=1, le=1000)
    agent_max_seconds: float = Field(default=1800.0, gt=0)
    """Wall time the agent may spend on one task, tests included."""
    agent_max_tokens: int = Field(default=3_000_000, ge=1000)
    """Tokens (input, output and cache) one task may use."""
    agent_budget_usd: float | None = Field(default=5.0, gt=0)
    """Dollars one task may spend (a task can ask for its own budget); unset: no dollar limit."""
    agent_test_rounds: int = Field(default=3, ge=1, le=20)
    """How often failing tests go back to the agent before the task fails."""
    artifact_max_bytes: int = Field(default=100 * 1024 * 1024, ge=1024, le=2**31 - 1)
    """The largest file a task may keep in the artifact store (a change's bundle, a test report)."""
    artifact_retention_days: float = Field(default=30.0, ge=0)
    """Finished tasks' artifacts are removed after this many days (0: kept)."""
    artifact_bucket: str | None = Field(default=None, min_length=3, max_length=63)
    """An S3-compatible bucket for tasks' artifacts instead of the database (`pip install '.[s3]'`; credentials
    from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile or an instance role)."""
    artifact_bucket_prefix: str = Field(default="dockhand/artifacts/", max_length=200)
    artifact_bucket_endpoint_url: str | None = None
    """The bucket's S3 endpoint when it is not AWS (MinIO, Ceph, R2…)."""
    artifact_bucket_region: str | None = None
    agent_attempts: int = Field(default=1, ge=1, le=10)
    """Independent agent attempts per resolution, each in its own sandbox with a share of the budget; dockhand
    offers the best by its evidence (a task or a repository's `.dockhand.toml` `attempts` may ask for more)."""
    agent_attempts_max: int = Field(default=3, ge=1, le=10)
    """The most attempts one task may run, whatever it asks; at most `workers` of them run at once."""
    agent_attempt_models: list[str] = Field(default_factory=list)
    """Models the further attempts take turns with (JSON list; attempt 1 always runs on agent_model)."""
    agent_reproduce_first: bool = True
    """The agent writes a test that reproduces the problem before fixing it; it must fail before and pass after."""
    agent_self_review: bool = True
    """Before asking for approval, dockhand reviews the agent's change; serious findings go back to it once."""
    fix_ci: bool = False
    """When CI fails on dockhand's pull request, start a follow-up that fixes it (a repository's `.dockhand.toml`
    `fix_ci` overrides this); otherwise the failure is reported with a "Fix it" button."""
    fix_ci_attempts: int = Field(default=2, ge=0, le=20)
    """Automatic CI fixes per pull request (a repository's `fix_ci_attempts` overrides this)."""
    fix_ci_budget_usd: float = Field(default=15.0, gt=0)
    """No automatic CI fix starts once a pull request's conversation has cost this much."""
    agent_prompt_caching: bool = True
    agent_streaming: bool = True
    agent_price_input: float = Field(default=3.0, ge=0)
    """US dollars per million input tokens (and below: output, cache writes, cache reads)."""
    agent_price_output: float = Field(default=15.0, ge=0)
    agent_price_cache_write: float = Field(default=3.75, ge=0)
    agent_price_cache_read: float = Field(default=0.30, ge=0)
    anthropic_max_retries: int = Field(default=4, ge=0, le=20)
    """Retries of a 429, 529 or 5xx answer (with backoff honouring retry-after)."""
    approval_timeout_seconds: float | None = Field(default=3 * 24 * 3600.0, gt=0)
    """How long a change waits for approval before the task fails; unset: forever."""
    auto_approve_repositories: list[str] = Field(default_factory=list)
    """Repositories (JSON list of owner/name) whose changes are published without asking."""
    review_chunk_chars: int = Field(default=60_000, ge=2_000, le=2_000_000)
    """How much diff one review call sees at most (about a quarter as many tokens)."""
    review_max_comments: int = Field(default=25, ge=0, le=200)
    """Line comments one review posts at most (most severe first; the rest go in its body)."""
    review_max_chunks: int = Field(default=20, ge=1, le=500)
    """Parts one review is split into at most (what does not fit is listed as not reviewed)."""
    slack_default_owner: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,39}$")
    """The GitHub owner Slack commands mean when they name just `repo#12`."""
    slack_allowed: list[str] = Field(default_factory=list)
    """Slack users (U…), user groups (S…) or channels (C…) that may run commands (JSON list); empty: everyone."""
    slack_command_access: dict[Literal["resolve", "review", "test", "cancel"], list[str]] = Field(default_factory=dict)
    """Per command, who may run it (JSON, e.g. {"resolve": ["S0DEVS"]}); unlisted commands follow SLACK_ALLOWED."""
    slack_approvers: list[str] = Field(default_factory=list)
    """Who may press Approve/Reject (JSON list of U…/S…/C…); empty: whoever started the task."""
    slack_repositories: list[str] = Field(default_factory=list)
    """Repositories Slack commands may name (JSON list, globs like "acme/*"); empty: any."""
    slack_update_seconds: float = Field(default=3.0, ge=0)
    """Progress posted to a task's thread at most this often (updates in between are coalesced)."""
    log_level: str = Field(default="INFO", pattern=r"^(?i:debug|info|warning|error|critical)$")

    # --- vendors' credentials and endpoints ---------------------------------------------
    slack_bot_token: SecretStr | None = _vendor("SLACK_BOT_TOKEN")
    slack_app_token: SecretStr | None = _vendor("SLACK_APP_TOKEN")
    slack_signing_secret: SecretStr | None = _vendor("SLACK_SIGNING_SECRET")
    github_token: SecretStr | None = _vendor("GITHUB_TOKEN")
    github_app_id: int | None = _vendor("GITHUB_APP_ID")
    github_app_private_key_path: Path | None = _vendor("GITHUB_APP_PRIVATE_KEY_PATH")
    github_app_private_key: SecretStr | None = _vendor("GITHUB_APP_PRIVATE_KEY")
    """The App's private key itself (PEM), e.g. from `dockhand secrets set github_app_private_key`."""
    github_webhook_secret: SecretStr | None = _vendor("GITHUB_WEBHOOK_SECRET")
    anthropic_api_key: SecretStr | None = _vendor("ANTHROPIC_API_KEY")
    github_api_url: str = Field(default="https://api.github.com", validation_alias=AliasChoices("GITHUB_API_URL"))
    slack_api_url: str = Field(default="https://slack.com/api/", validation_alias=AliasChoices("SLACK_API_URL"))
    anthropic_base_url: str = Field(
        default="https://api.anthropic.com", validation_alias=AliasChoices("ANTHROPIC_BASE_URL")
    )
    # --- where the model runs: Anthropic's API, Amazon Bedrock or Google Vertex AI (the SDK's own clients) --
    model_provider: Literal["anthropic", "bedrock", "vertex"] = "anthropic"
    """anthropic: ANTHROPIC_API_KEY. bedrock: AWS credentials as boto3 finds them (AWS_ACCESS_KEY_ID…, a
    profile, an instance role) and `pip install 'dockhand[bedrock]'`. vertex: Google credentials (ADC, or
    DOCKHAND_VERTEX_ACCESS_TOKEN) and `pip install 'dockhand[vertex]'`. DOCKHAND_AGENT_MODEL is then that
    provider's model id, and the DOCKHAND_AGENT_PRICE_* its prices."""
    bedrock_region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    bedrock_base_url: str | None = None
    vertex_project_id: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9-]{4,61}[a-z0-9]$")
    vertex_region: str | None = Field(default=None, pattern=r"^(global|us|eu|[a-z]+-[a-z]+\d+)$")
    vertex_base_url: str | None = None
    vertex_access_token: SecretStr | None = None

    @model_validator(mode="after")
    def _heartbeat_fits_the_lease(self) -> Settings:
        if self.heartbeat_seconds is not None and self.heartbeat_seconds >= self.lease_seconds / 2:
            raise ValueError(
                "DOCKHAND_HEARTBEAT_SECONDS must be under half of DOCKHAND_LEASE_SECONDS, "
                "or every lease would expire before it is renewed"
            )
        return self

    def check_pairs(self) -> None:
        """Credentials that only work together are all there (after stored secrets were added)."""
        has_key = self.github_app_private_key_path is not None or self.github_app_private_key is not None
        if self.github_app_id is not None and not has_key:
            raise SettingsError(
                "invalid settings: GITHUB_APP_PRIVATE_KEY_PATH is missing: a GitHub App needs GITHUB_APP_ID and its "
                "private key (GITHUB_APP_PRIVATE_KEY_PATH, or the stored secret github_app_private_key)"
            )
        if self.github_app_id is None and self.github_app_private_key_path is not None:
            raise SettingsError(
                "invalid settings: GITHUB_APP_ID is missing: a GitHub App needs both GITHUB_APP_ID and its private key"
            )
        if self.model_provider == "vertex" and (self.vertex_project_id is None or self.vertex_region is None):
            raise SettingsError(
                "invalid settings: DOCKHAND_VERTEX_PROJECT_ID and DOCKHAND_VERTEX_REGION are needed with "
                "DOCKHAND_MODEL_PROVIDER=vertex"
            )
        if self.model_provider == "bedrock" and self.bedrock_region is None and not os.environ.get("AWS_REGION"):
            raise SettingsError(
                "invalid settings: DOCKHAND_BEDROCK_REGION (or AWS_REGION) is needed with "
                "DOCKHAND_MODEL_PROVIDER=bedrock"
            )
        if self.slack_bot_token is not None and self.slack_signing_secret is None and self.slack_app_token is None:
            raise SettingsError(
                "invalid settings: SLACK_SIGNING_SECRET is missing: with SLACK_BOT_TOKEN set, requests from Slack "
                "must be verified (or set SLACK_APP_TOKEN for Socket Mode)"
            )

    def app_private_key(self) -> str | None:
        if self.github_app_private_key is not None:
            return self.github_app_private_key.get_secret_value()
        if self.github_app_private_key_path is not None:
            return self.github_app_private_key_path.read_text()
        return None

    def with_stored_secrets(self) -> Settings:
        """Credentials kept in the database fill what the environment left unset (the environment wins)."""
        from core.store.secrets import stored_secrets

        key = self.master_key.get_secret_value() if self.master_key else None
        stored = stored_secrets(self.effective_database_url, self.data_dir, key)
        missing = {name.value: SecretStr(value) for name, value in stored.items() if getattr(self, name.value) is None}
        if self.github_app_private_key_path is not None:  # a key file named in the environment wins
            missing.pop("github_app_private_key", None)
        return self.model_copy(update=missing) if missing else self

    # --- derived values ------------------------------------------------------------------
    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'dockhand.db'}"

    @property
    def effective_heartbeat_seconds(self) -> float:
        if self.heartbeat_seconds is not None:
            return self.heartbeat_seconds
        return min(self.lease_seconds / 4, 2.0)

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def git_cache_dir(self) -> Path:
        return self.data_dir / "git"

    @property
    def artifacts_dir(self) -> Path:
        """Where earlier versions kept tasks' artifacts on disk: read once, then moved into the database."""
        return self.data_dir / "artifacts"

    def configured_credentials(self) -> dict[str, bool]:
        """Which credentials are present, never their values."""
        return {
            "slack_bot_token": self.slack_bot_token is not None,
            "slack_app_token": self.slack_app_token is not None,
            "slack_signing_secret": self.slack_signing_secret is not None,
            "github_token": self.github_token is not None,
            "github_app": self.github_app_id is not None,
            "github_webhook_secret": self.github_webhook_secret is not None,
            "anthropic_api_key": self.anthropic_api_key is not None,
        }

    @classmethod
    def load_environment(cls, **overrides: Any) -> Settings:
        """The environment (and `.env`) only, without stored secrets: to manage the stored secrets."""
        try:
            return cls(**overrides)
        except ValidationError as exc:
            raise SettingsError(_describe(exc)) from None

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Read the environment (and `.env`), raising `SettingsError` that names the bad setting."""
        try:
            settings = cls(**overrides).with_stored_secrets()
            settings.check_pairs()
            return settings
        except ValidationError as exc:
            raise SettingsError(_describe(exc)) from None
        except PydanticSettingsError as exc:  # a value that should be JSON and is not
            match = re.search(r'field "([a-z_]+)"', str(exc))
            name = _env_name(match[1]) if match else "a setting"
            raise SettingsError(f"invalid settings: {name}: not valid JSON") from None


_SECRET_FIELDS = frozenset(name for name, info in Settings.model_fields.items() if "SecretStr" in str(info.annotation))


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A warning for each DOCKHAND_* variable that is no setting (a typo is otherwise silently ignored),
    with the nearest setting's name when there is one."""
    known = {_env_name(name) for name in Settings.model_fields}
    # Read by the test suite and scripts, not by the settings.
    known |= {"DOCKHAND_TEST_POSTGRES_URL", "DOCKHAND_DEV", "DOCKHAND_SKIP_IMAGE"}
    warnings = []
    for name in sorted(environ):
        if name.startswith("DOCKHAND_") and name not in known:
            # Compared without the shared prefix, which would make every name look alike.
            names = sorted(k.removeprefix("DOCKHAND_") for k in known if k.startswith("DOCKHAND_"))
            close = difflib.get_close_matches(name.removeprefix("DOCKHAND_"), names, n=1, cutoff=0.75)
            hint = f" (did you mean DOCKHAND_{close[0]}?)" if close else ""
            warnings.append(f"{name} is not a dockhand setting and is ignored{hint}")
    return warnings


def _env_name(field: str) -> str:
    info = Settings.model_fields.get(field)
    if info is not None and isinstance(info.validation_alias, AliasChoices):
        first = info.validation_alias.choices[0]
        if isinstance(first, str):
            return first
    return f"DOCKHAND_{field.upper()}"


def _describe(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        msg = str(err.get("msg", "invalid"))
        if loc:
            # A database URL may carry its password: never echoed, like the secrets.
            hidden = loc[0] in _SECRET_FIELDS or loc[0] == "database_url"
            shown = "" if hidden else f" (got {err.get('input')!r})"
            problems.append(f"{_env_name(loc[0])}: {msg}{shown}")
        else:
            problems.append(msg.removeprefix("Value error, "))
    return "invalid settings: " + "; ".join(problems)

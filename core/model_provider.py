"""Which service runs the model, and the SDK client for it: Anthropic's API, Amazon Bedrock or Google Vertex
AI, each through the anthropic SDK's own client (`Anthropic`, `AnthropicBedrock`, `AnthropicVertex`), which
speak the same Messages API to dockhand's agent and reviewer.

The SDK is imported here, when a client is made, never when dockhand starts.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol, cast

from core.errors import StageFailedError
from core.settings import Settings

CLIENT_TIMEOUT_SECONDS = 600.0


class MessageStream(Protocol):
    def __iter__(self) -> Any: ...
    def get_final_message(self) -> Any: ...


class Messages(Protocol):
    def create(self, **request: Any) -> Any: ...
    def stream(self, **request: Any) -> AbstractContextManager[MessageStream]: ...


class ModelClient(Protocol):
    """The Messages API as the agent and the reviewer call it. The SDK's `Anthropic`, `AnthropicBedrock` and
    `AnthropicVertex` clients all are one; the core names no SDK type but this."""

    @property
    def messages(self) -> Messages: ...

    def close(self) -> None: ...


ClientFactory = Callable[[Settings], ModelClient]  # tests give a client for a fake of the API


def missing_model(settings: Settings) -> str | None:
    """What to set or install before the model can be called (None when it can): checked before any work
    starts. Bedrock's and Vertex's credentials come from their clouds' own chains: the SDK checks those."""
    if settings.model_provider == "anthropic" and settings.anthropic_api_key is None:
        return "set ANTHROPIC_API_KEY (or DOCKHAND_MODEL_PROVIDER=bedrock|vertex)"
    if settings.model_provider == "bedrock" and not _installed("botocore"):
        return "Bedrock needs boto3: pip install 'dockhand[bedrock]'"
    if settings.model_provider == "vertex" and settings.vertex_access_token is None and not _installed("google.auth"):
        return "Vertex needs google-auth (or DOCKHAND_VERTEX_ACCESS_TOKEN): pip install 'dockhand[vertex]'"
    return None


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def model_client(settings: Settings) -> ModelClient:
    """The client for the configured provider (all three share the Messages API that dockhand uses)."""
    import anthropic

    if missing := missing_model(settings):
        raise StageFailedError(f"the model cannot be called: {missing}")
    retries, timeout = settings.anthropic_max_retries, CLIENT_TIMEOUT_SECONDS
    client: object
    if settings.model_provider == "bedrock":
        client = anthropic.AnthropicBedrock(
            aws_region=settings.bedrock_region,
            base_url=settings.bedrock_base_url,
            max_retries=retries,
            timeout=timeout,
        )
    elif settings.model_provider == "vertex":
        token = settings.vertex_access_token.get_secret_value() if settings.vertex_access_token else None
        client = anthropic.AnthropicVertex(
            project_id=settings.vertex_project_id or "",
            region=settings.vertex_region or "",
            access_token=token,
            base_url=settings.vertex_base_url,
            max_retries=retries,
            timeout=timeout,
        )
    else:
        client = anthropic.Anthropic(
            api_key=settings.anthropic_api_key.get_secret_value() if settings.anthropic_api_key else None,
            base_url=settings.anthropic_base_url,
            max_retries=retries,
            timeout=timeout,
        )
    # The SDK's keyword-typed `create` is narrower than the protocol's `**request`: the cast says it fits.
    return cast(ModelClient, client)


def sdk_error() -> type[Exception]:
    """The SDK's base error, for `except` clauses (imported when a model is called, never at start-up)."""
    import anthropic

    return anthropic.AnthropicError


def api_failure(exc: BaseException) -> str | None:
    """What went wrong, when `exc` is the API refusing a request or not being reachable (None otherwise)."""
    import anthropic

    if isinstance(exc, anthropic.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        found = body.get("error")
        error = found if isinstance(found, dict) else {}
        kind = error.get("type") or type(exc).__name__
        message = error.get("message") or str(exc)
        return f"the Anthropic API answered {exc.status_code} ({kind}): {message}"
    if isinstance(exc, anthropic.APIConnectionError):
        return f"cannot reach the Anthropic API: {exc}"
    return None

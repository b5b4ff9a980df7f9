"""The Slack Web API client dockhand uses: slack_sdk's, rate-limit retries, and every message redacted."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from core.redaction import Redactor
from core.settings import Settings


class RedactingWebClient(WebClient):
    """A WebClient whose every message goes out with known secrets and token shapes redacted."""

    redactor = Redactor()

    def api_call(self, api_method: str, **kwargs: Any) -> Any:  # type: ignore[override]
        # Messages travel in `json` (chat.*) or `data`; `params` and any `token` field carry credentials
        # on purpose (Socket Mode's apps.connections.open sends the app token there) and are left alone.
        for part in ("json", "data"):
            fields = kwargs.get(part)
            if isinstance(fields, dict):
                kwargs[part] = {k: v if k == "token" else self.redactor.value(v) for k, v in fields.items()}
        return super().api_call(api_method, **kwargs)


def slack_client(settings: Settings) -> WebClient:
    assert settings.slack_bot_token is not None
    client = RedactingWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=30,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=3)],
    )
    client.redactor = Redactor.from_settings(settings)
    return client

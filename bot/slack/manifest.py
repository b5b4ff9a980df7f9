"""The Slack app dockhand needs, as a manifest for Slack's "Create an app → From a manifest" flow.

With a public URL, Slack sends the slash command, events and button clicks there (`/slack/events`,
verified with the signing secret); without one, the app uses Socket Mode (an app-level token with
`connections:write`, no public URL at all).
"""

from __future__ import annotations

from typing import Any

# What the bot calls: messages and their updates (chat:write), the slash command, mentions, and the
# members of user groups named in DOCKHAND_SLACK_ALLOWED / _APPROVERS.
SLACK_SCOPES = ("app_mentions:read", "chat:write", "commands", "usergroups:read")
# To read a thread's earlier messages when a request is made in it (`conversations.replies`): without them the
# request comes alone.
THREAD_SCOPES = ("channels:history", "groups:history")
BOT_EVENTS = ("app_mention",)
SLACK_PATH = "/slack/events"
COMMAND = "/agent"
USAGE = "resolve owner/repo#12 · review owner/repo#34 · test owner/repo [ref] · status · cancel ID"


def slack_manifest(public_url: str | None, name: str = "dockhand") -> dict[str, Any]:
    """The app manifest: HTTP delivery to `public_url` (https), or Socket Mode when it is None."""
    endpoint = f"{public_url.rstrip('/')}{SLACK_PATH}" if public_url else None
    command: dict[str, Any] = {
        "command": COMMAND,
        "description": "Ask dockhand to resolve an issue, review a PR or run tests",
        "usage_hint": USAGE,
        "should_escape": False,
    }
    events: dict[str, Any] = {"bot_events": list(BOT_EVENTS)}
    interactivity: dict[str, Any] = {"is_enabled": True}
    if endpoint:
        command["url"] = endpoint
        events["request_url"] = endpoint
        interactivity["request_url"] = endpoint
    return {
        "display_information": {
            "name": name[:35],
            "description": "GitHub chores by an agent in Docker sandboxes, with approval before anything is pushed",
            "background_color": "#1d3557",
        },
        "features": {
            "bot_user": {"display_name": name[:80], "always_online": True},
            "slash_commands": [command],
        },
        "oauth_config": {"scopes": {"bot": [*SLACK_SCOPES, *THREAD_SCOPES]}},
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": endpoint is None,
            "token_rotation_enabled": False,
        },
    }

"""The GitHub App dockhand needs: its permissions and events, as a manifest for GitHub's App manifest flow
(https://docs.github.com/apps/sharing-github-apps/registering-a-github-app-from-a-manifest) or for
creating the App by hand."""

from __future__ import annotations

from typing import Any

# Clone and push branches (contents), comment and read issues, open PRs and review them, report checks
# and commit statuses; metadata is implied by any of them.
GITHUB_PERMISSIONS = {
    "contents": "write",
    "issues": "write",
    "pull_requests": "write",
    "checks": "write",
    "statuses": "write",
    "metadata": "read",
}
# What the intake acts on (installation events reach every App without subscribing).
GITHUB_EVENTS = ("issues", "issue_comment", "pull_request", "push")
WEBHOOK_PATH = "/webhook/github"


def github_app_manifest(public_url: str, redirect_url: str | None = None, name: str = "dockhand") -> dict[str, Any]:
    base = public_url.rstrip("/")
    manifest: dict[str, Any] = {
        "name": name,
        "url": base,
        "hook_attributes": {"url": f"{base}{WEBHOOK_PATH}", "active": True},
        "public": False,
        "default_permissions": dict(GITHUB_PERMISSIONS),
        "default_events": list(GITHUB_EVENTS),
    }
    if redirect_url:
        manifest["redirect_url"] = redirect_url
    return manifest

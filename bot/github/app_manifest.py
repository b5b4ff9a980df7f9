"""The GitHub App dockhand needs: its permissions and events, as a manifest for GitHub's App manifest flow
(https://docs.github.com/apps/sharing-github-apps/registering-a-github-app-from-a-manifest) or for
creating the App by hand."""

from __future__ import annotations

from typing import Any

# Clone and push branches (contents), comment and read issues, open PRs, review them and reply to reviews, report
# checks and commit statuses, read what failed in CI (actions: a job's log); metadata is implied by any of them.
GITHUB_PERMISSIONS = {
    "actions": "read",
    "contents": "write",
    "issues": "write",
    "pull_requests": "write",
    "checks": "write",
    "statuses": "write",
    "metadata": "read",
}
# What the intake acts on (installation events reach every App without subscribing): requests on issues and PRs,
# new PRs and pushes, reviews of dockhand's PRs, and CI finishing on its branches.
GITHUB_EVENTS = (
    "issues", "issue_comment", "pull_request", "push", "pull_request_review", "check_run", "check_suite",
    "workflow_run",
)  # fmt: skip
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

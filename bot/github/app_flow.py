"""GitHub's App manifest flow, run from this machine: a page on loopback posts dockhand's manifest to GitHub's
"new App" page; GitHub sends the browser back with a one-time code, which is exchanged for the new App's id,
private key and webhook secret (`POST /app-manifests/{code}/conversions`, no credentials needed). The key and
the secret go straight into the sealed secret store; nothing is printed but the App's id and name.
"""

from __future__ import annotations

import html
import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

import requests

from bot.github.app_manifest import github_app_manifest
from core.errors import DockhandError

TIMEOUT_SECONDS = 30


class ManifestFlowError(DockhandError):
    pass


@dataclass(frozen=True)
class CreatedApp:
    """What GitHub answers the code with (the secrets are never shown in a repr)."""

    id: int
    slug: str
    name: str
    html_url: str
    pem: str = field(repr=False)
    webhook_secret: str = field(repr=False)


def convert_code(api_url: str, code: str) -> CreatedApp:
    """Exchange the flow's one-time code for the App it created."""
    if not code or not code.replace("-", "").replace("_", "").isalnum() or len(code) > 200:
        raise ManifestFlowError("GitHub sent back no usable code")
    url = f"{api_url.rstrip('/')}/app-manifests/{quote(code, safe='')}/conversions"
    try:
        answer = requests.post(url, headers={"Accept": "application/vnd.github+json"}, timeout=TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        raise ManifestFlowError(f"cannot reach GitHub at {api_url}: {type(exc).__name__}") from None
    if answer.status_code != 201:
        message = _message(answer)
        raise ManifestFlowError(f"GitHub refused the code: {answer.status_code} {message}".strip())
    try:
        data = answer.json()
        return CreatedApp(
            id=int(data["id"]),
            slug=str(data.get("slug") or ""),
            name=str(data.get("name") or ""),
            html_url=str(data.get("html_url") or ""),
            pem=str(data["pem"]),
            webhook_secret=str(data["webhook_secret"] or ""),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ManifestFlowError(f"GitHub's answer lacks {exc}") from None


def _message(answer: requests.Response) -> str:
    try:
        data = answer.json()
    except ValueError:
        return ""
    return str(data.get("message", "")) if isinstance(data, dict) else ""


class ManifestFlow:
    """The loopback page and its callback. `on_created` stores the App; `wait()` returns it when done."""

    def __init__(
        self,
        *,
        public_url: str,
        api_url: str,
        web_url: str = "https://github.com",
        organization: str | None = None,
        on_created: Callable[[CreatedApp], None],
        port: int = 0,
        name: str = "dockhand",
    ) -> None:
        self.api_url = api_url
        self.state = secrets.token_urlsafe(24)
        self.on_created = on_created
        self.created: CreatedApp | None = None
        self.error: str | None = None
        self._done = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.local_url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        new_app = f"{web_url.rstrip('/')}/" + (
            f"organizations/{quote(organization, safe='')}/settings/apps/new" if organization else "settings/apps/new"
        )
        self.form_action = f"{new_app}?state={self.state}"
        self.manifest = github_app_manifest(public_url, redirect_url=f"{self.local_url}callback", name=name)

    def start(self) -> None:
        threading.Thread(target=self._server.serve_forever, name="manifest-flow", daemon=True).start()

    def wait(self, timeout: float) -> CreatedApp:
        finished = self._done.wait(timeout)
        self._server.shutdown()
        self._server.server_close()
        if self.created is not None:
            return self.created
        raise ManifestFlowError(self.error or ("timed out waiting for GitHub" if not finished else "no App created"))

    # --- the two pages ----------------------------------------------------------------------
    def page(self) -> str:
        manifest = html.escape(json.dumps(self.manifest), quote=True)
        return (
            "<!doctype html><html><body><p>Creating the dockhand GitHub App on GitHub…</p>"
            f'<form id="f" method="post" action="{html.escape(self.form_action, quote=True)}">'
            f'<input type="hidden" name="manifest" value="{manifest}">'
            '<button type="submit">Create the App on GitHub</button></form>'
            "<script>document.getElementById('f').submit()</script></body></html>"
        )

    def callback(self, query: dict[str, list[str]]) -> tuple[int, str]:
        if not secrets.compare_digest(query.get("state", [""])[0], self.state):
            return 400, "This answer does not belong to this set-up (state mismatch): nothing was stored."
        if self._done.is_set():
            return 409, "This set-up has already finished."
        try:
            created = convert_code(self.api_url, query.get("code", [""])[0])
            self.on_created(created)
        except DockhandError as exc:
            self.error = str(exc)
            self._done.set()
            return 502, f"The App could not be set up: {exc}"
        self.created = created
        self._done.set()
        return 200, f"GitHub App {created.name} (id {created.id}) is created and its key stored. Install it next."

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        flow = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                if url.path == "/":
                    self._send(200, flow.page(), "text/html")
                elif url.path == "/callback":
                    status, text = flow.callback(parse_qs(url.query))
                    self._send(status, f"<!doctype html><p>{html.escape(text)}</p>", "text/html")
                else:
                    self._send(404, "not found", "text/plain")

            def _send(self, status: int, body: str, kind: str) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", f"{kind}; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # the code is in the URL: not logged
                return

        return Handler

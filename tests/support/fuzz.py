"""A seeded generator of hostile requests to every route of dockhand's HTTP app (tests and benches).

What an attacker or a broken client would send: wrong methods, odd paths and query values, bodies that
are not JSON, JSON of the wrong shapes (real examples with one field changed), form bodies, bogus
headers; signed with the real secrets as often as not, so what gets past the signature checks is fuzzed
too. `Fuzzer.answers` collects (status, what) pairs; 0 is a request the server dropped.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from bot.github.signature import sign
from tests.conftest import FIXTURES

TOKEN = "fuzz-admin-token"
GITHUB_SECRET = "fuzz-github-secret"
SLACK_SECRET = "fuzz-slack-secret"
GITHUB_EXAMPLES = sorted((FIXTURES / "github-webhooks").glob("*/*.json"))
SLACK_EXAMPLES = {
    "slash": (FIXTURES / "slack" / "slash_command.json"),
    "mention": (FIXTURES / "slack" / "app_mention.json"),
    "click": (FIXTURES / "slack" / "block_actions_button.json"),
}

ODD_STRINGS = [
    "",
    "\x00",
    "a\x00b",
    "..%2f..%2fetc%2fpasswd",
    "../../etc/passwd",
    "%ff%fe",
    "😀" * 3,
    "x" * 5000,
    "-1",
    "0",
    "1e999",
    "NaN",
    "9" * 40,
    "[]",
    "{}",
    "null",
    "true",
    "' OR 1=1 --",
    "<script>",
    "acme/repo#1",
    "\r\nX-Injected: 1",
]
ODD_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    2**70,
    1.5,
    1e308,
    "",
    "x",
    "\x00",
    [],
    [1, "a"],
    {},
    {"id": "x"},
    "😀",
    "a" * 3000,
]


@dataclass
class Fuzzer:
    rng: random.Random
    http: httpx.Client
    task_id: str
    answers: list[tuple[int, str]]

    def any_request(self) -> None:
        self.rng.choice([self.admin, self.github, self.slack])()

    def send(self, method: str, path: str, **kwargs: Any) -> None:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:  # a closed connection is an answer too, but not a 5xx
            self.answers.append((0, f"{method} {path}: {type(exc).__name__}"))
            return
        self.answers.append((response.status_code, f"{method} {path}: {response.text[:200]}"))

    # --- pieces --------------------------------------------------------------------------------
    def odd(self) -> str:
        return self.rng.choice(ODD_STRINGS)

    def odd_value(self) -> Any:
        return self.rng.choice(ODD_VALUES)

    def segment(self) -> str:
        return self.rng.choice([self.task_id, quote(self.odd(), safe=""), "%00", "abc", "%2e%2e"])

    def query(self) -> str:
        keys = ["status", "limit", "offset", "repository", "type", "since", "before", "task", "follow", "x"]
        pairs = [(self.rng.choice(keys), self.odd()) for _ in range(self.rng.randint(0, 3))]
        return ("?" + urlencode(pairs)) if pairs else ""

    def auth(self) -> dict[str, str]:
        return self.rng.choice(
            [
                {"Authorization": f"Bearer {TOKEN}"},
                {"Authorization": f"Bearer {TOKEN}"},
                {"Authorization": "Bearer wrong"},
                {"Authorization": "Basic Zm9vOmJhcg=="},
                {"Authorization": "Bearer"},
                {},
            ]
        )

    def mutate(self, value: Any, depth: int = 0) -> Any:
        """The value with one field somewhere replaced by something of another type (or removed)."""
        if isinstance(value, dict) and value and depth < 6:
            key = self.rng.choice(list(value))
            changed = dict(value)
            roll = self.rng.random()
            if roll < 0.15:
                changed.pop(key)
            elif roll < 0.6:
                changed[key] = self.mutate(value[key], depth + 1)
            else:
                changed[key] = self.odd_value()
            return changed
        if isinstance(value, list) and value and depth < 6:
            index = self.rng.randrange(len(value))
            return [*value[:index], self.mutate(value[index], depth + 1), *value[index + 1 :]]
        return self.odd_value()

    def garbage_body(self) -> bytes:
        return self.rng.choice(
            [
                b"",
                b"{",
                b"[" * 5000 + b"]" * 5000,
                b'{"a": 1e999}',
                b'{"a": NaN}',
                b'{"a": "\\ud800"}',
                b"\xff\xfe\x00\x00",
                bytes(self.rng.randrange(256) for _ in range(self.rng.randint(1, 300))),
                json.dumps(self.odd_value()).encode(),
                json.dumps({"type": self.odd_value(), "payload": self.odd_value()}).encode(),
                b"payload=%7B%22a%22",
                b"payload=" + quote(json.dumps(self.odd_value())).encode(),
                b"a=1&a=2&&=&payload",
                b"9" * 5000,
            ]
        )

    def content_type(self) -> str:
        return self.rng.choice(
            [
                "application/json",
                "application/x-www-form-urlencoded",
                "text/plain",
                "multipart/form-data; boundary=x",
                "application/json; charset=utf-16",
                "",
            ]
        )

    # --- route families ------------------------------------------------------------------------
    def admin(self) -> None:
        routes = [
            ("GET", "/status"),
            ("GET", "/tasks"),
            ("GET", "/task/{id}"),
            ("GET", "/task/{id}/logs"),
            ("POST", "/task/{id}/cancel"),
            ("POST", "/task/{id}/approve"),
            ("POST", "/task/{id}/reject"),
            ("POST", "/api/submit"),
            ("GET", "/audit"),
            ("GET", "/sandbox/list"),
            ("POST", "/sandbox/{id}/destroy"),
            ("POST", "/session/clear"),
            ("GET", "/healthz"),
            ("GET", "/metrics"),
            ("GET", "/{id}"),
        ]
        method, template = self.rng.choice(routes)
        if self.rng.random() < 0.1:
            method = self.rng.choice(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
        path = template.replace("{id}", self.segment()) + self.query()
        body = self.garbage_body()
        if path.startswith("/api/submit") and self.rng.random() < 0.5:
            submission = {"type": "custom", "payload": {"command": "true"}, "repository": "acme/x"}
            body = json.dumps(self.mutate(submission)).encode()
        headers = {**self.auth(), "Content-Type": self.content_type()}
        self.send(method, path, content=body if method != "GET" else None, headers=headers)

    def github(self) -> None:
        source = self.rng.choice(GITHUB_EXAMPLES)
        event = source.parent.name  # mostly the example's own event, so its shape gets past the first checks
        if self.rng.random() < 0.3:
            event = self.rng.choice(
                ["issues", "issue_comment", "pull_request", "push", "installation", "ping", "x", ""]
            )
        if self.rng.random() < 0.7:
            example = json.loads(source.read_text())
            body = json.dumps(self.mutate(example) if self.rng.random() < 0.7 else example).encode()
        else:
            body = self.garbage_body()
        form = self.rng.random() < 0.2
        if form:
            body = urlencode({"payload": body.decode("utf-8", "replace")}).encode()
        headers = {
            "Content-Type": "application/x-www-form-urlencoded" if form else self.content_type(),
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": self.rng.choice([f"d-{self.rng.random()}", "", "x" * 300]),
            "X-GitHub-Hook-ID": self.rng.choice(["1", "", "x" * 100]),
        }
        signature = self.rng.random()
        if signature < 0.65:
            headers["X-Hub-Signature-256"] = sign(body, GITHUB_SECRET)
        elif signature < 0.85:
            headers["X-Hub-Signature-256"] = self.rng.choice(["sha256=00", "sha1=abc", "", "sha256=" + "0" * 64])
        self.send("POST", "/webhook/github", content=body, headers=headers)

    def slack(self) -> None:
        kind = self.rng.choice(list(SLACK_EXAMPLES))
        example = json.loads(SLACK_EXAMPLES[kind].read_text())
        if kind == "slash":
            fields = self.mutate(example) if self.rng.random() < 0.7 else example
            fields = fields if isinstance(fields, dict) else {"text": fields}
            fields["text"] = self.rng.choice(["status", "help", "cancel x", "resolve acme/x#1", self.odd()])
            body = urlencode({k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()})
            content_type = "application/x-www-form-urlencoded"
        elif kind == "click":
            body = urlencode({"payload": json.dumps(self.mutate(example))})
            content_type = "application/x-www-form-urlencoded"
        else:
            body = json.dumps(self.mutate(example))
            content_type = "application/json"
        if self.rng.random() < 0.2:
            body, content_type = self.garbage_body().decode("latin-1"), self.content_type()
        timestamp = self.rng.choice(
            [str(int(time.time()))] * 4 + [str(int(time.time()) - 300), "x", "", "1e9", str(2**70), "-5"]
        )
        headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp}
        signature = self.rng.random()
        if signature < 0.7 and timestamp.isdigit():
            headers["X-Slack-Signature"] = SignatureVerifier(SLACK_SECRET).generate_signature(
                timestamp=timestamp, body=body
            )
        elif signature < 0.9:
            headers["X-Slack-Signature"] = self.rng.choice(["v0=00", "", "v1=abc", "v0=" + "0" * 64])
        self.send("POST", "/slack/events", content=body.encode("latin-1", "replace"), headers=headers)

"""A small fake of GitHub's REST API on loopback, held to GitHub's own contract.

Every request is matched against `shared/fixtures/github-openapi/operations.json`: unknown routes get
404, a missing or wrong token 401 (GitHub's "Bad credentials" body), a body that breaks the operation's
request schema 422. Every response the fake sends is checked against the operation's response schema;
a mismatch is recorded in `contract_errors` (tests assert it stays empty) and answered with 500.
Responses are built by `synthesize()` — a minimal instance of the schema — with the fake's state laid
over it, so they have every field the real service returns.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.conftest import SHARED
from tests.support.server import serve_in_thread

SPEC = json.loads((SHARED / "fixtures" / "github-openapi" / "operations.json").read_text())["operations"]


def to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 → JSON Schema: `nullable: true` also admits null (as SOURCE.md shows)."""
    if isinstance(node, list):
        return [to_json_schema(x) for x in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "nullable":
            continue
        out[key] = {n: to_json_schema(s) for n, s in value.items()} if key == "properties" else to_json_schema(value)
    if node.get("nullable") is True:
        if "type" in out:
            out["type"] = [out["type"], "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


_FORMATS = {
    "date-time": "2026-01-01T00:00:00Z",
    "uri": "https://example.invalid/x",
    "email": "a@example.invalid",
    "uri-template": "https://example.invalid/{x}",
    "date": "2026-01-01",
}


def synthesize(schema: Any, overrides: Any = None) -> Any:
    """A minimal instance of an OpenAPI schema, with `overrides` laid over it."""
    if not isinstance(schema, dict):
        return overrides
    for combinator in ("oneOf", "anyOf"):
        if combinator in schema:
            options = schema[combinator]
            if overrides is not None and not isinstance(overrides, dict):
                return overrides
            return synthesize(options[0], overrides)
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = synthesize(part, overrides)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        given = overrides if isinstance(overrides, dict) else {}
        out = {name: synthesize(props[name], given.get(name)) for name in schema.get("required", []) if name in props}
        for name, value in given.items():
            out[name] = synthesize(props[name], value) if name in props else value
        return out
    if overrides is not None:
        return overrides
    if schema.get("nullable"):
        return None
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "array":
        return []
    if kind == "string":
        return _FORMATS.get(schema.get("format", ""), "x")
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return False
    return None


def _route_regex(path: str, multi: set[str]) -> re.Pattern[str]:
    pattern = re.sub(r"\{(\w+)\}", lambda m: f"(?P<{m[1]}>.+)" if m[1] in multi else f"(?P<{m[1]}>[^/]+)", path)
    return re.compile(f"^{pattern}$")


ROUTES = [
    (op["method"], _route_regex(op["path"], {p["name"] for p in op["parameters"] if p.get("x-multi-segment")}), key)
    for key, op in SPEC.items()
]


@dataclass
class FakeGitHub:
    """The fake's state, and what it was asked."""

    tokens: set[str] = field(default_factory=lambda: {"ghp_fake_token"})
    repos: dict[str, dict[str, Any]] = field(default_factory=dict)
    permissions: dict[tuple[str, str], str] = field(default_factory=dict)
    issues: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    pulls: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    contract_errors: list[str] = field(default_factory=list)
    fail_next: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # (status, headers) to answer next
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1000))

    def add_repo(self, full_name: str, default_branch: str = "main") -> None:
        self.repos[full_name] = {"default_branch": default_branch}

    # --- handlers: (params, body) -> (status, payload) ----------------------------------------
    def handle(self, key: str, p: dict[str, str], body: Any, login: str) -> tuple[int, Any]:
        repo = f"{p.get('owner')}/{p.get('repo')}"
        if "{owner}/{repo}" in key and repo not in self.repos:
            return 404, {"message": "Not Found"}
        handler = _HANDLERS.get(key)
        if handler is None:
            return 501, {"message": f"the fake does not implement {key}"}
        return handler(self, repo, p, body, login)


def _repo(fake: FakeGitHub, repo: str, p: dict[str, str], body: Any, login: str) -> tuple[int, Any]:
    owner, name = repo.split("/")
    return 200, {
        "full_name": repo,
        "name": name,
        "owner": {"login": owner},
        "default_branch": fake.repos[repo]["default_branch"],
        "private": False,
        "clone_url": f"https://github.invalid/{repo}.git",
    }


def _permission(fake: FakeGitHub, repo: str, p: dict[str, str], body: Any, login: str) -> tuple[int, Any]:
    level = fake.permissions.get((repo, p["username"]), "none")
    if level == "none" and (repo, p["username"]) not in fake.permissions:
        return 404, {"message": f"{p['username']} is not a user"}
    role = {"admin": "admin", "maintain": "maintain", "write": "write", "read": "read"}.get(level, "read")
    return 200, {"permission": level, "role_name": role, "user": {"login": p["username"], "role_name": role}}


def _issue(fake: FakeGitHub, repo: str, p: dict[str, str], body: Any, login: str) -> tuple[int, Any]:
    issue = fake.issues.get((repo, int(p["issue_number"])))
    if issue is None:
        return 404, {"message": "Not Found"}
    return 200, {"number": int(p["issue_number"]), "state": "open", **issue}


def _new_comment(fake: FakeGitHub, repo: str, p: dict[str, str], body: Any, login: str) -> tuple[int, Any]:
    if (repo, int(p["issue_number"])) not in fake.issues:
        return 404, {"message": "Not Found"}
    comment_id = next(fake._ids)
    fake.comments[comment_id] = {"repo": repo, "issue": int(p["issue_number"]), "body": body["body"], "user": login}
    return 201, _comment_view(comment_id, fake.comments[comment_id])


def _list_comments(fake: FakeGitHub, repo: str, p: dict[str, str], body: Any, login: str) -> tuple[int, Any]:
    number = int(p["issue_number"])
    return 200, [_comment_view(i, c) for i, c in fake.comments.items() if c["repo"] == repo and c["issue"] == number]


def _edit_comment(fake: FakeGitHub, repo: str, p: dict[str, str], body: Any, login: str) -> tuple[int, Any]:
    comment = fake.comments.get(int(p["comment_id"]))
    if comment is None or comment["repo"] != repo:
        return 404, {"message": "Not Found"}
    comment["body"] = body["body"]
    comment.setdefault("edits", 0)
    comment["edits"] += 1
    return 200, _comment_view(int(p["comment_id"]), comment)


def _comment_view(comment_id: int, comment: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": comment_id,
        "body": comment["body"],
        "user": {"login": comment["user"]},
        "html_url": f"https://github.invalid/{comment['repo']}/issues/{comment['issue']}#issuecomment-{comment_id}",
    }


def _new_pull(fake: FakeGitHub, repo: str, p: dict[str, str], body: Any, login: str) -> tuple[int, Any]:
    number = max([n for (r, n) in fake.pulls if r == repo] + [n for (r, n) in fake.issues if r == repo] + [0]) + 1
    fake.pulls[(repo, number)] = {
        "title": body["title"],
        "body": body.get("body") or "",
        "head": body["head"],
        "base": body["base"],
    }
    return 201, {
        "number": number,
        "title": body["title"],
        "body": body.get("body"),
        "state": "open",
        "html_url": f"https://github.invalid/{repo}/pull/{number}",
        "head": {"ref": body["head"], "sha": "0" * 40, "label": body["head"]},
        "base": {"ref": body["base"], "sha": "0" * 40, "label": body["base"]},
    }


def _status(fake: FakeGitHub, repo: str, p: dict[str, str], body: Any, login: str) -> tuple[int, Any]:
    fake.statuses.append({"repo": repo, "sha": p["sha"], **body})
    return 201, {
        "state": body["state"],
        "context": body.get("context", "default"),
        "description": body.get("description"),
        "target_url": body.get("target_url"),
    }


def _rate_limit(fake: FakeGitHub, repo: str, p: dict[str, str], body: Any, login: str) -> tuple[int, Any]:
    limit = {"limit": 5000, "remaining": 4999, "reset": 2_000_000_000, "used": 1}
    return 200, {"resources": {"core": limit, "search": limit}, "rate": limit}


def _user(fake: FakeGitHub, repo: str, p: dict[str, str], body: Any, login: str) -> tuple[int, Any]:
    return 200, {"login": login, "type": "User"}


_HANDLERS: dict[str, Callable[..., tuple[int, Any]]] = {
    "GET /repos/{owner}/{repo}": _repo,
    "GET /repos/{owner}/{repo}/collaborators/{username}/permission": _permission,
    "GET /repos/{owner}/{repo}/issues/{issue_number}": _issue,
    "POST /repos/{owner}/{repo}/issues/{issue_number}/comments": _new_comment,
    "GET /repos/{owner}/{repo}/issues/{issue_number}/comments": _list_comments,
    "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}": _edit_comment,
    "POST /repos/{owner}/{repo}/pulls": _new_pull,
    "POST /repos/{owner}/{repo}/statuses/{sha}": _status,
    "GET /rate_limit": _rate_limit,
    "GET /user": _user,
}


def _app(fake: FakeGitHub) -> Starlette:
    async def endpoint(request: Request) -> Response:
        method, path = request.method, request.url.path
        raw = await request.body()
        body = json.loads(raw) if raw else None
        fake.requests.append((method, path, body))
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() not in ("token", "bearer") or token not in fake.tokens:
            return JSONResponse(
                {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}, status_code=401
            )
        if fake.fail_next:
            status, headers = fake.fail_next.pop(0)
            return JSONResponse({"message": "try again"}, status_code=status, headers=headers)
        found = next(
            ((m, key) for route_method, regex, key in ROUTES if route_method == method and (m := regex.match(path))),
            None,
        )
        if found is None:
            return JSONResponse({"message": "Not Found"}, status_code=404)
        match, key = found
        operation = SPEC[key]
        request_schema = (operation.get("requestBody") or {}).get("schema")
        if request_schema is not None:
            errors = [e.message for e in jsonschema.Draft7Validator(to_json_schema(request_schema)).iter_errors(body)]
            if errors:
                return JSONResponse({"message": "Invalid request.", "errors": errors}, status_code=422)
        status, payload = fake.handle(key, match.groupdict(), body, login="dockhand-test")
        response = operation["responses"].get(str(status))
        if response is not None and response.get("schema") is not None:
            schema = response["schema"]
            payload = synthesize(schema, payload)
            errors = [e.message for e in jsonschema.Draft7Validator(to_json_schema(schema)).iter_errors(payload)]
            if errors:
                fake.contract_errors.append(f"{key} {status}: {errors[:3]}")
                return JSONResponse({"message": "fake broke the contract"}, status_code=500)
        if status == 204:
            return Response(status_code=204)
        headers = {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "4999", "X-RateLimit-Reset": "2000000000"}
        return JSONResponse(payload, status_code=status, headers=headers)

    methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
    return Starlette(routes=[Route("/{path:path}", endpoint, methods=methods)])


@contextmanager
def running_fake_github(fake: FakeGitHub | None = None) -> Iterator[tuple[FakeGitHub, str]]:
    fake = fake or FakeGitHub()
    with serve_in_thread(_app(fake)) as url:
        yield fake, url

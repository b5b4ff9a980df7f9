"""A small fake of GitHub's REST API on loopback, held to GitHub's own contract.

Every request is matched against `tests/fixtures/github-openapi/operations.json`: unknown routes get
404, a missing or wrong token 401 (GitHub's "Bad credentials" body), a body that breaks the operation's
request schema 422. Every response the fake sends is checked against the operation's response schema;
a mismatch is recorded in `contract_errors` (tests assert it stays empty) and answered with 500.
Responses are built by `synthesize()` — a minimal instance of the schema — with the fake's state laid
over it, so they have every field the real service returns.

Who is calling comes from the token: a personal token in `tokens` is the user `dockhand-test`; an
installation token (`installation_tokens`, or one minted at `POST /app/installations/{id}/access_tokens`
with a JWT signed by a key registered with `add_app`) is `dockhand[bot]`. Only the latter may write
check runs, as on GitHub. A review whose inline comment is not on a line of the PR's diff is refused
with GitHub's 422, judged from the stored patches by `diff_lines` — written apart from the bot's own
parser so that the two check each other.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.conftest import FIXTURES
from tests.support.server import serve_in_thread

SPEC = json.loads((FIXTURES / "github-openapi" / "operations.json").read_text())["operations"]


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
    if kind == "array" and isinstance(overrides, list):  # each item filled in, as an object is
        return [synthesize(schema.get("items"), item) for item in overrides]
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


def diff_lines(patch: str | None) -> dict[str, set[int]]:
    """The lines of a file's patch a review comment may sit on, per side ("LEFT", "RIGHT")."""
    sides: dict[str, set[int]] = {"LEFT": set(), "RIGHT": set()}
    old = new = 0
    for line in (patch or "").split("\n"):
        if header := re.match(r"@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@", line):
            old, new = int(header[1]), int(header[2])
        elif line.startswith("+"):
            sides["RIGHT"].add(new)
            new += 1
        elif line.startswith("-"):
            sides["LEFT"].add(old)
            old += 1
        elif line.startswith(" "):
            sides["LEFT"].add(old)
            sides["RIGHT"].add(new)
            old, new = old + 1, new + 1
    return sides


BOT_LOGIN = "dockhand[bot]"
_DOCS = "https://docs.github.com/rest"


@dataclass
class FakeGitHub:
    """The fake's state, and what it was asked."""

    tokens: set[str] = field(default_factory=lambda: {"ghp_fake_token"})
    installation_tokens: set[str] = field(default_factory=set)
    manifest_codes: dict[str, dict[str, Any]] = field(default_factory=dict)  # App manifest flow: code → manifest
    created_apps: list[dict[str, Any]] = field(default_factory=list)
    # What an installation token may do (GitHub returns it with every minted token).
    installation_permissions: dict[str, str] = field(
        default_factory=lambda: {
            "contents": "write", "issues": "write", "pull_requests": "write", "checks": "write",
            "statuses": "write", "metadata": "read", "actions": "read",
        }
    )  # fmt: skip
    apps: dict[str, str] = field(default_factory=dict)  # app id → public key (PEM) its JWTs are signed for
    installations: dict[int, str] = field(default_factory=dict)  # installation id → app id
    repos: dict[str, dict[str, Any]] = field(default_factory=dict)
    permissions: dict[tuple[str, str], str] = field(default_factory=dict)
    issues: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    pulls: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    files: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (repo, branch, path) -> text
    statuses: list[dict[str, Any]] = field(default_factory=list)
    reviews: dict[int, dict[str, Any]] = field(default_factory=dict)
    check_runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    review_comments: dict[int, dict[str, Any]] = field(default_factory=dict)  # line comments of reviews, replies
    job_logs: dict[int, str] = field(default_factory=dict)  # GitHub Actions job id → its log
    log_downloads: list[dict[str, str]] = field(default_factory=list)  # the headers each log download came with
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    answers: list[tuple[str, str, int]] = field(default_factory=list)  # (method, path, status) sent back
    base_url: str = "https://api.github.invalid"  # set to the server's address once it runs
    contract_errors: list[str] = field(default_factory=list)
    fail_next: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # (status, headers) to answer next
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1000))

    def add_repo(self, full_name: str, default_branch: str = "main") -> None:
        self.repos[full_name] = {"default_branch": default_branch}

    def add_pull(
        self,
        repo: str,
        number: int,
        *,
        head_sha: str,
        files: Sequence[Mapping[str, Any]] = (),
        head: str = "feature",
        base: str = "main",
        title: str = "A change",
        body: str = "",
        author: str = "alice",
        draft: bool = False,
        base_sha: str = "0" * 40,
    ) -> None:
        """A PR (and its issue) with changed files: {"filename", "patch"?, "status"?, "previous_filename"?}."""
        self.pulls[(repo, number)] = {
            "base_sha": base_sha,
            "title": title,
            "body": body,
            "head": head,
            "base": base,
            "head_sha": head_sha,
            "user": author,
            "draft": draft,
            "files": [{"status": "modified", **f} for f in files],
        }
        self.issues.setdefault((repo, number), {"title": title, "body": body, "user": {"login": author}})

    def add_review(
        self,
        repo: str,
        number: int,
        *,
        user: str,
        body: str = "",
        state: str = "COMMENTED",
        comments: Sequence[Mapping[str, Any]] = (),
        association: str = "COLLABORATOR",
    ) -> int:
        """A person's submitted review with line comments ({"path", "line", "body", "diff_hunk"?,
        "in_reply_to_id"?}); its id."""
        review_id = next(self._ids)
        commit = self.pulls[(repo, number)]["head_sha"] if (repo, number) in self.pulls else "0" * 40
        self.reviews[review_id] = {
            "repo": repo, "number": number, "user": user, "body": body, "state": state, "commit_id": commit,
            "comments": list(comments), "association": association,
        }  # fmt: skip
        for comment in comments:
            hunk = comment.get("diff_hunk") or f"@@ -{comment['line']},1 +{comment['line']},1 @@"
            self.review_comments[next(self._ids)] = {
                "repo": repo, "number": number, "review_id": review_id, "user": user, "commit_id": commit,
                "path": comment["path"], "line": comment["line"], "body": comment["body"], "diff_hunk": hunk,
                "in_reply_to_id": comment.get("in_reply_to_id"),
            }  # fmt: skip
        return review_id

    def add_check_run(self, repo: str, *, head_sha: str, name: str, conclusion: str, summary: str = "",
                      log: str | None = None) -> int:  # fmt: skip
        """A completed check run of GitHub Actions (its id is its job's, whose log is `log`)."""
        run_id = next(self._ids)
        self.check_runs[run_id] = {
            "repo": repo, "name": name, "head_sha": head_sha, "status": "completed", "conclusion": conclusion,
            "output": {"title": name, "summary": summary}, "started_at": _now(), "completed_at": _now(),
            "app": "github-actions",
        }  # fmt: skip
        if log is not None:
            self.job_logs[run_id] = log
        return run_id

    def add_app(self, app_id: int, public_key_pem: str, installation_id: int) -> None:
        """A GitHub App whose JWTs verify with this key, installed as `installation_id`."""
        self.apps[str(app_id)] = public_key_pem
        self.installations[installation_id] = str(app_id)

    def login_for(self, scheme: str, token: str) -> str | None:
        """Who the Authorization header names; None for bad credentials."""
        if scheme.lower() not in ("token", "bearer"):
            return None
        if token in self.tokens:
            return "dockhand-test"
        if token in self.installation_tokens:
            return BOT_LOGIN
        try:
            app_id = str(jwt.decode(token, options={"verify_signature": False})["iss"])
            jwt.decode(token, self.apps[app_id], algorithms=["RS256"])
        except (jwt.PyJWTError, KeyError):
            return None
        return f"app:{app_id}"

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
    number = int(p["issue_number"])
    if (repo, number) not in fake.issues and (repo, number) not in fake.pulls:  # a pull request is an issue too
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
    owner = repo.split("/")[0]
    if any(r == repo and pull["head"] == body["head"] for (r, _), pull in fake.pulls.items()):
        message = f"A pull request already exists for {owner}:{body['head']}."
        return 422, {
            "message": "Validation Failed",
            "errors": [{"resource": "PullRequest", "code": "custom", "message": message}],
            "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
        }
    number = max([n for (r, n) in fake.pulls if r == repo] + [n for (r, n) in fake.issues if r == repo] + [0]) + 1
    fake.pulls[(repo, number)] = {
        "title": body["title"],
        "body": body.get("body") or "",
        "head": body["head"],
        "base": body["base"],
        "head_sha": "0" * 40,
        "user": login,
        "draft": bool(body.get("draft")),
        "files": [],  # a PR opened through the API has no files unless a test sets them
    }
    return 201, _pull_view(fake, repo, number)


def _pull_view(fake: FakeGitHub, repo: str, number: int) -> dict[str, Any]:
    pull = fake.pulls[(repo, number)]
    owner = repo.split("/")[0]
    return {
        "number": number,
        "title": pull["title"],
        "body": pull["body"] or None,
        "state": "open",
        "draft": pull["draft"],
        "url": f"{fake.base_url}/repos/{repo}/pulls/{number}",
        "html_url": f"https://github.invalid/{repo}/pull/{number}",
        "user": {"login": pull["user"]},
        "head": {"ref": pull["head"], "sha": pull["head_sha"], "label": f"{owner}:{pull['head']}"},
        "base": {"ref": pull["base"], "sha": pull.get("base_sha", "0" * 40), "label": f"{owner}:{pull['base']}"},
        "changed_files": len(pull["files"]),
    }


def _contents(fake: FakeGitHub, repo: str, p: dict[str, str], body: Any, login: str) -> tuple[int, Any]:
    """A file of the default branch (or `?ref=`), base64-encoded as GitHub sends it."""
    ref = p.get("query.ref") or fake.repos[repo]["default_branch"]
    text = fake.files.get((repo, ref, p["path"]))
    if text is None:
        return 404, {"message": "Not Found"}
    raw = text.encode()
    url = f"{fake.base_url}/repos/{repo}/contents/{p['path']}?ref={ref}"
    html = f"https://github.invalid/{repo}/blob/{ref}/{p['path']}"
    sha = hashlib.sha1(b"blob %d\0" % len(raw) + raw).hexdigest()
    return 200, {
        "type": "file",
        "encoding": "base64",
        "size": len(raw),
        "name": p["path"].rsplit("/", 1)[-1],
        "path": p["path"],
        "content": base64.b64encode(raw).decode(),
        "sha": sha,
        "url": url,
        "git_url": f"{fake.base_url}/repos/{repo}/git/blobs/{sha}",
        "html_url": html,
        "download_url": None,
        "_links": {"self": url, "git": None, "html": html},
    }


def _list_pulls(fake: FakeGitHub, repo: str, p: dict[str, str], body: Any, login: str) -> tuple[int, Any]:
    """Open PRs, filtered by `head=owner:branch` as GitHub does."""
    head = p.get("query.head")
    owner = repo.split("/")[0]
    found = [
        _pull_view(fake, repo, number)
        for (r, number), pull in sorted(fake.pulls.items())
        if r == repo and (head is None or head == f"{owner}:{pull['head']}")
    ]
    return 200, found


def _pull(fake: FakeGitHub, repo: str, p: dict[str, str], body: Any, login: str) -> tuple[int, Any]:
    if (repo, int(p["pull_number"])) not in fake.pulls:
        return 404, {"message": "Not Found"}
    return 200, _pull_view(fake, repo, int(p["pull_number"]))


def _pull_files(fake: FakeGitHub, repo: str, p: dict[str, str], body: Any, login: str) -> tuple[int, Any]:
    pull = fake.pulls.get((repo, int(p["pull_number"])))
    if pull is None:
        return 404, {"message": "Not Found"}
    views = []
    for f in pull["files"]:
        lines = (f.get("patch") or "").split("\n")
        added, removed = sum(x.startswith("+") for x in lines), sum(x.startswith("-") for x in lines)
        blob = f"https://github.invalid/{repo}/blob/{pull['head_sha']}/{f['filename']}"
        view = {**f, "additions": added, "deletions": removed, "changes": added + removed, "blob_url": blob}
        views.append({k: v for k, v in view.items() if v is not None})  # no patch: the key is left out
    return 200, views


def _new_review(fake: FakeGitHub, repo: str, p: dict[str, str], body: Any, login: str) -> tuple[int, Any]:
    number = int(p["pull_number"])
    pull = fake.pulls.get((repo, number))
    if pull is None:
        return 404, {"message": "Not Found"}
    event = body.get("event")
    if pull["user"] == login and event in ("APPROVE", "REQUEST_CHANGES"):
        verb = "approve" if event == "APPROVE" else "request changes on"
        return 422, _unprocessable(f"Can not {verb} your own pull request")
    if body.get("commit_id", pull["head_sha"]) != pull["head_sha"]:
        return 422, _unprocessable(f"No commit found for SHA: {body['commit_id']}")
    patches = {f["filename"]: f.get("patch") for f in pull["files"]}
    for comment in body.get("comments", []):
        if not _on_diff(comment, patches):
            return 422, _unprocessable("Pull request review thread line must be part of the diff")
    review_id = next(fake._ids)
    state = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}
    fake.reviews[review_id] = {
        "repo": repo,
        "number": number,
        "user": login,
        "body": body.get("body") or "",
        "state": state.get(event, "PENDING"),
        "commit_id": body.get("commit_id", pull["head_sha"]),
        "comments": body.get("comments", []),
    }
    return 200, _review_view(fake, review_id)


def _on_diff(comment: dict[str, Any], patches: dict[str, str | None]) -> bool:
    if comment["path"] not in patches:
        return False
    patch = patches[comment["path"]]
    if "position" in comment:  # lines below the first hunk header, counting later headers too
        return patch is not None and 1 <= comment["position"] < len(patch.rstrip("\n").split("\n"))
    sides = diff_lines(patch)
    side, start_side = comment.get("side", "RIGHT"), comment.get("start_side", comment.get("side", "RIGHT"))
    if side not in sides or start_side not in sides or "line" not in comment:
        return False
    return comment["line"] in sides[side] and comment.get("start_line", comment["line"]) in sides[start_side]


def _unprocessable(reason: str) -> dict[str, Any]:
    return {"message": "Unprocessable Entity", "errors": [reason], "documentation_url": _DOCS}


def _list_reviews(fake: FakeGitHub, repo: str, p: dict[str, str], body: Any, login: str) -> tuple[int, Any]:
    number = int(p["pull_number"])
    if (repo, number) not in fake.pulls:
        return 404, {"message": "Not Found"}
    mine = [i for i, r in fake.reviews.items() if r["repo"] == repo and r["number"] == number]
    return 200, [_review_view(fake, i) for i in mine]


def _review_view(fake: FakeGitHub, review_id: int) -> dict[str, Any]:
    review = fake.reviews[review_id]
    html = f"https://github.invalid/{review['repo']}/pull/{review['number']}#pullrequestreview-{review_id}"
    pull_url = f"{fake.base_url}/repos/{review['repo']}/pulls/{review['number']}"
    view = {
        "id": review_id,
        "node_id": f"PRR_{review_id}",
        "user": _user_view(review["user"]),
        "body": review["body"],
        "state": review["state"],
        "commit_id": review["commit_id"],
        "html_url": html,
        "pull_request_url": pull_url,
        "_links": {"html": {"href": html}, "pull_request": {"href": pull_url}},
        "author_association": review.get("association", "NONE"),
    }
    return view | ({} if review["state"] == "PENDING" else {"submitted_at": _now()})


def _new_check_run(fake: FakeGitHub, repo: str, p: dict[str, str], body: Any, login: str) -> tuple[int, Any]:
    if login != BOT_LOGIN:
        return 403, {"message": "You must authenticate via a GitHub App.", "documentation_url": _DOCS}
    run_id = next(fake._ids)
    fake.check_runs[run_id] = {"repo": repo, "status": "queued", "conclusion": None, "output": {}, "started_at": _now()}
    _apply_check_run(fake.check_runs[run_id], body)
    return 201, _check_run_view(fake, run_id)


def _update_check_run(fake: FakeGitHub, repo: str, p: dict[str, str], body: Any, login: str) -> tuple[int, Any]:
    if login != BOT_LOGIN:
        return 403, {"message": "You must authenticate via a GitHub App.", "documentation_url": _DOCS}
    run = fake.check_runs.get(int(p["check_run_id"]))
    if run is None or run["repo"] != repo:
        return 404, {"message": "Not Found"}
    _apply_check_run(run, body)
    run.setdefault("edits", 0)
    run["edits"] += 1
    return 200, _check_run_view(fake, int(p["check_run_id"]))


def _apply_check_run(run: dict[str, Any], body: dict[str, Any]) -> None:
    run.update({k: v for k, v in body.items() if k != "output"})
    run["output"] = {**run["output"], **body.get("output", {})}
    if body.get("conclusion") is not None:  # a conclusion completes the run
        run["status"] = "completed"
    if run["status"] == "completed":
        run.setdefault("completed_at", _now())


def _check_run_view(fake: FakeGitHub, run_id: int) -> dict[str, Any]:
    run = fake.check_runs[run_id]
    output = run["output"]
    return {
        "id": run_id,
        "node_id": f"CR_{run_id}",
        "name": run["name"],
        "head_sha": run["head_sha"],
        "url": f"{fake.base_url}/repos/{run['repo']}/check-runs/{run_id}",
        "html_url": f"https://github.invalid/{run['repo']}/runs/{run_id}",
        "details_url": run.get("details_url"),
        "external_id": run.get("external_id"),
        "status": run["status"],
        "conclusion": run["conclusion"],
        "started_at": run["started_at"],
        "completed_at": run.get("completed_at"),
        "check_suite": {"id": 1},
        "app": {"slug": run.get("app", BOT_LOGIN.removesuffix("[bot]")), "name": run.get("app", "dockhand")},
        "pull_requests": [],
        "output": {
            "title": output.get("title"),
            "summary": output.get("summary"),
            "text": output.get("text"),
            "annotations_count": 0,
            "annotations_url": f"{fake.base_url}/repos/{run['repo']}/check-runs/{run_id}/annotations",
        },
    }


def _user_view(login: str) -> dict[str, Any]:
    return {"login": login, "type": "Bot" if login.endswith("[bot]") else "User"}


def _review_comments(fake: FakeGitHub, repo: str, p: dict[str, str], body: Any, login: str) -> tuple[int, Any]:
    number, review_id = int(p["pull_number"]), int(p["review_id"])
    review = fake.reviews.get(review_id)
    if (repo, number) not in fake.pulls or review is None or (review["repo"], review["number"]) != (repo, number):
        return 404, {"message": "Not Found"}
    found = [i for i, c in fake.review_comments.items() if c["review_id"] == review_id]
    return 200, [_review_comment_view(fake, i) for i in found]


def _reply(fake: FakeGitHub, repo: str, p: dict[str, str], body: Any, login: str) -> tuple[int, Any]:
    number, comment_id = int(p["pull_number"]), int(p["comment_id"])
    target = fake.review_comments.get(comment_id)
    if target is None or (target["repo"], target["number"]) != (repo, number):
        return 404, {"message": "Not Found"}
    if target["in_reply_to_id"] is not None:  # GitHub: "Replies to replies are not supported."
        return 422, _unprocessable("comment_id is a reply: reply to the thread's first comment")
    new_id = next(fake._ids)
    fake.review_comments[new_id] = {**target, "review_id": next(fake._ids), "user": login, "body": body["body"],
                                    "in_reply_to_id": comment_id}  # fmt: skip
    return 201, _review_comment_view(fake, new_id)


def _review_comment_view(fake: FakeGitHub, comment_id: int) -> dict[str, Any]:
    c = fake.review_comments[comment_id]
    url = f"{fake.base_url}/repos/{c['repo']}/pulls/comments/{comment_id}"
    pull_url = f"{fake.base_url}/repos/{c['repo']}/pulls/{c['number']}"
    html = f"https://github.invalid/{c['repo']}/pull/{c['number']}#discussion_r{comment_id}"
    view = {
        "id": comment_id, "node_id": f"PRRC_{comment_id}", "url": url, "pull_request_review_id": c["review_id"],
        "diff_hunk": c["diff_hunk"], "path": c["path"], "line": c["line"], "position": 1, "original_position": 1,
        "commit_id": c["commit_id"], "original_commit_id": c["commit_id"], "user": _user_view(c["user"]),
        "body": c["body"], "created_at": _now(), "updated_at": _now(), "html_url": html, "pull_request_url": pull_url,
        "author_association": "COLLABORATOR",
        "_links": {"self": {"href": url}, "html": {"href": html}, "pull_request": {"href": pull_url}},
    }  # fmt: skip
    return view | ({"in_reply_to_id": c["in_reply_to_id"]} if c["in_reply_to_id"] is not None else {})


def _commit_check_runs(fake: FakeGitHub, repo: str, p: dict[str, str], body: Any, login: str) -> tuple[int, Any]:
    ref, wanted = p["ref"], p.get("query.status")
    found = [
        i for i, r in fake.check_runs.items()
        if r["repo"] == repo and r.get("head_sha") == ref and (wanted is None or r["status"] == wanted)
    ]  # fmt: skip
    return 200, {"total_count": len(found), "check_runs": [_check_run_view(fake, i) for i in found]}


def _job_logs(fake: FakeGitHub, repo: str, p: dict[str, str], body: Any, login: str) -> tuple[int, Any]:
    job_id = int(p["job_id"])
    run = fake.check_runs.get(job_id)
    if run is None or run["repo"] != repo or job_id not in fake.job_logs:
        return 404, {"message": "Not Found"}
    return 302, {"location": f"{fake.base_url}/_job-logs/{job_id}?sig=short-lived"}


def _access_token(fake: FakeGitHub, repo: str, p: dict[str, str], body: Any, login: str) -> tuple[int, Any]:
    if not login.startswith("app:"):
        return 401, {"message": "A JSON web token could not be decoded", "documentation_url": _DOCS}
    if fake.installations.get(int(p["installation_id"])) != login.removeprefix("app:"):
        return 404, {"message": "Not Found"}
    token = f"ghs_fake_installation_{next(fake._ids)}"
    fake.installation_tokens.add(token)
    expires = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    permissions = dict(fake.installation_permissions)
    return 201, {"token": token, "expires_at": expires, "permissions": permissions, "repository_selection": "all"}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
    "GET /repos/{owner}/{repo}/pulls": _list_pulls,
    "GET /repos/{owner}/{repo}/contents/{path}": _contents,
    "GET /repos/{owner}/{repo}/pulls/{pull_number}": _pull,
    "GET /repos/{owner}/{repo}/pulls/{pull_number}/files": _pull_files,
    "POST /repos/{owner}/{repo}/pulls/{pull_number}/reviews": _new_review,
    "GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews": _list_reviews,
    "POST /repos/{owner}/{repo}/check-runs": _new_check_run,
    "PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}": _update_check_run,
    "POST /app/installations/{installation_id}/access_tokens": _access_token,
    "POST /repos/{owner}/{repo}/statuses/{sha}": _status,
    "GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}/comments": _review_comments,
    "POST /repos/{owner}/{repo}/pulls/{pull_number}/comments/{comment_id}/replies": _reply,
    "GET /repos/{owner}/{repo}/commits/{ref}/check-runs": _commit_check_runs,
    "GET /repos/{owner}/{repo}/actions/jobs/{job_id}/logs": _job_logs,
    "GET /rate_limit": _rate_limit,
    "GET /user": _user,
}


# The App manifest flow's last step is outside the copied REST contract (tests/fixtures/github-openapi): it
# answers as GitHub documents it (201 with the App, `pem`, `webhook_secret`, `client_id`, `client_secret`),
# needs no credentials, and takes each code once.
_CONVERSION = re.compile(r"/app-manifests/(?P<code>[^/]+)/conversions")
# A job log's download link (where `GET .../actions/jobs/{id}/logs` redirects): signed by its query, it is
# refused with credentials on it (storage is not GitHub; a token sent there would leak).
_JOB_LOG = re.compile(r"/_job-logs/(?P<job>[0-9]+)")


def _convert_manifest(fake: FakeGitHub, code: str) -> Response:
    manifest = fake.manifest_codes.pop(code, None)
    if manifest is None:
        return JSONResponse({"message": "Not Found", "documentation_url": _DOCS}, status_code=404)
    app_id = 1000 + next(fake._ids)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    fake.apps[str(app_id)] = public.decode()
    fake.created_apps.append(manifest)
    slug = re.sub(r"[^a-z0-9-]+", "-", str(manifest.get("name", "app")).lower()).strip("-")
    return JSONResponse(
        {
            "id": app_id, "slug": slug, "node_id": f"A_{app_id}", "name": manifest.get("name"),
            "owner": {"login": "acme", "id": 1, "type": "Organization"}, "description": "",
            "external_url": manifest.get("url"), "html_url": f"https://github.com/apps/{slug}",
            "created_at": _now(), "updated_at": _now(), "permissions": manifest.get("default_permissions", {}),
            "events": manifest.get("default_events", []), "client_id": f"Iv1.{app_id:016x}",
            "client_secret": f"secret{app_id}", "webhook_secret": f"whsec-{app_id}", "pem": pem.decode(),
        },
        status_code=201,
    )  # fmt: skip


def _app(fake: FakeGitHub) -> Starlette:
    async def endpoint(request: Request) -> Response:
        response = await answer(request)
        fake.answers.append((request.method, request.url.path, response.status_code))
        return response

    async def answer(request: Request) -> Response:
        method, path = request.method, request.url.path
        raw = await request.body()
        body = json.loads(raw) if raw else None
        fake.requests.append((method, path, body))
        if method == "POST" and (conversion := _CONVERSION.fullmatch(path)):
            return _convert_manifest(fake, conversion["code"])
        if method == "GET" and (job := _JOB_LOG.fullmatch(path)):
            fake.log_downloads.append(dict(request.headers))
            if "authorization" in request.headers or request.query_params.get("sig") != "short-lived":
                return Response("AuthenticationFailed", status_code=403)
            return Response(fake.job_logs[int(job["job"])], media_type="text/plain")
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        login = fake.login_for(scheme, token)
        if login is None:
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
        params = {f"query.{k}": v for k, v in request.query_params.items()} | match.groupdict()
        status, payload = fake.handle(key, params, body, login=login)
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
        if status == 302:
            return Response(status_code=302, headers={"Location": payload["location"]})
        headers = {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "4999", "X-RateLimit-Reset": "2000000000"}
        return JSONResponse(payload, status_code=status, headers=headers)

    methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
    return Starlette(routes=[Route("/{path:path}", endpoint, methods=methods)])


@contextmanager
def running_fake_github(fake: FakeGitHub | None = None) -> Iterator[tuple[FakeGitHub, str]]:
    fake = fake or FakeGitHub()
    with serve_in_thread(_app(fake)) as url:
        fake.base_url = url
        yield fake, url

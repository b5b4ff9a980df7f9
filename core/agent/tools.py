"""The agent's tools, run in the task's sandbox: a shell, a file editor, and `submit`.

The shell and the editor are Anthropic's own tool types (`bash_20250124`, `text_editor_20250728`),
so the model uses them as it was trained to; `submit` is ours and ends the work with a PR title and
body. Every path is inside the repository's work tree; every output is cut to a size a model can read.
"""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.errors import DockhandError
from core.sandboxing import ExecRequest, LiveSandboxLike
from core.testrun.detect import WORKSPACE

MAX_TOOL_OUTPUT = 12_000
MAX_EDIT_FILE_BYTES = 2 * 1024 * 1024
COMMAND_TIMEOUT = 300.0

BASH = {"type": "bash_20250124", "name": "bash"}
EDITOR = {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool", "max_characters": MAX_TOOL_OUTPUT}
SUBMIT = {
    "name": "submit",
    "description": (
        "Call this once the issue is fixed and the tests pass. It ends your work: the change is committed "
        "and proposed as a pull request with this title and body. Do not call it before the fix is complete."
    ),
    "input_schema": {
        "type": "object",
        "properties": {
            "title": {"type": "string", "description": "Pull request title: imperative, under 72 characters."},
            "body": {
                "type": "string",
                "description": "Pull request body in Markdown: the cause, the fix, and how it was tested.",
            },
            "replies": {
                "type": "array",
                "description": "When addressing review comments: per comment id, what you changed for it (or why not).",
                "items": {
                    "type": "object",
                    "properties": {"comment_id": {"type": "integer"}, "reply": {"type": "string"}},
                    "required": ["comment_id", "reply"],
                },
            },
        },
        "required": ["title", "body"],
    },
}


@dataclass(frozen=True, kw_only=True)
class ToolResult:
    content: str
    is_error: bool = False


@dataclass(frozen=True, kw_only=True)
class Submission:
    title: str
    body: str
    replies: dict[int, str] = field(default_factory=dict)  # review comment id → what was done for it


class Toolbox(Protocol):
    """What an agent can call: tool definitions for the API, and running one call."""

    def definitions(self) -> list[dict[str, Any]]: ...

    def call(self, name: str, arguments: Any) -> ToolResult | Submission: ...


def truncate(text: str, limit: int = MAX_TOOL_OUTPUT) -> str:
    """Head and tail of a long text, with how much was left out in between."""
    if len(text) <= limit:
        return text
    head, tail = text[: limit * 2 // 3], text[-(limit // 3) :]
    return f"{head}\n\n[… {len(text) - len(head) - len(tail)} characters omitted …]\n\n{tail}"


class SandboxTools:
    def __init__(
        self,
        box: LiveSandboxLike,
        *,
        cancelled: Any = None,
        env: dict[str, str] | None = None,
        command_timeout: float = COMMAND_TIMEOUT,
    ) -> None:
        self.box = box
        self.cancelled = cancelled
        self.env = env or {}
        self.command_timeout = command_timeout

    @staticmethod
    def definitions() -> list[dict[str, Any]]:
        return [dict(BASH), dict(EDITOR), dict(SUBMIT)]

    def call(self, name: str, arguments: Any) -> ToolResult | Submission:
        if not isinstance(arguments, dict):
            return ToolResult(content=f"{name}: the input must be an object", is_error=True)
        try:
            if name == "bash":
                return self._bash(arguments)
            if name == "str_replace_based_edit_tool":
                return self._edit(arguments)
            if name == "submit":
                title, body = arguments.get("title"), arguments.get("body")
                if not isinstance(title, str) or not title.strip() or not isinstance(body, str):
                    return ToolResult(content="submit needs a non-empty title and a body", is_error=True)
                return Submission(title=title.strip()[:200], body=body[:60_000], replies=_replies(arguments))
        except DockhandError as exc:
            return ToolResult(content=f"{name} failed: {exc}", is_error=True)
        return ToolResult(content=f"there is no tool named {name!r}", is_error=True)

    # --- bash --------------------------------------------------------------------------------
    def _bash(self, arguments: dict[str, Any]) -> ToolResult:
        if arguments.get("restart"):
            return ToolResult(content="the shell was restarted (every command starts in a fresh shell anyway)")
        command = arguments.get("command")
        if not isinstance(command, str) or not command.strip():
            return ToolResult(content="bash needs a command", is_error=True)
        result = self.box.exec(
            ExecRequest(command=command, env=self.env, timeout_seconds=self.command_timeout, workdir=WORKSPACE),
            cancelled=self.cancelled,
        )
        parts = [p for p in (result.stdout.rstrip("\n"), result.stderr.rstrip("\n")) if p]
        text = "\n".join(parts)
        if not result.ok:
            text = f"{text}\n[{result.describe()}]".lstrip("\n")
        return ToolResult(content=truncate(text) or "(no output)", is_error=not result.ok)

    # --- the editor --------------------------------------------------------------------------
    def _edit(self, arguments: dict[str, Any]) -> ToolResult:
        command = arguments.get("command")
        path = self._path(arguments.get("path"))
        if command == "view":
            return self._view(path, arguments.get("view_range"))
        if command == "create":
            text = arguments.get("file_text")
            if not isinstance(text, str):
                return ToolResult(content="create needs file_text", is_error=True)
            self._write(path, text)
            return ToolResult(content=f"created {self._shown(path)}")
        if command == "str_replace":
            if "new_str" not in arguments:
                return ToolResult(content="str_replace needs new_str (use an empty string to delete)", is_error=True)
            return self._str_replace(path, arguments.get("old_str"), arguments["new_str"])
        if command == "insert":
            return self._insert(
                path, arguments.get("insert_line"), arguments.get("insert_text", arguments.get("new_str"))
            )
        return ToolResult(
            content=f"unknown editor command {command!r} (view, create, str_replace, insert)", is_error=True
        )

    def _path(self, raw: Any) -> str:
        if not isinstance(raw, str) or not raw.strip():
            raise DockhandError("a path is needed")
        joined = raw if raw.startswith("/") else posixpath.join(WORKSPACE, raw)
        path = posixpath.normpath(joined)
        if path != WORKSPACE and not path.startswith(WORKSPACE + "/"):
            raise DockhandError(f"{raw}: only files under {WORKSPACE} (the repository) can be used")
        if path == f"{WORKSPACE}/.git" or path.startswith(f"{WORKSPACE}/.git/"):
            raise DockhandError(f"{raw}: the .git folder is not to be edited")
        return path

    @staticmethod
    def _shown(path: str) -> str:
        return posixpath.relpath(path, WORKSPACE)

    def _read(self, path: str) -> str:
        data = self.box.read_file(path, max_bytes=MAX_EDIT_FILE_BYTES)
        try:
            return data.decode()
        except UnicodeDecodeError:
            raise DockhandError(f"{self._shown(path)} is not a UTF-8 text file") from None

    def _write(self, path: str, text: str) -> None:
        parent = posixpath.dirname(path)
        made = self.box.exec(ExecRequest(command=f"mkdir -p {shlex.quote(parent)}", timeout_seconds=30))
        if not made.ok:
            raise DockhandError(f"cannot create {self._shown(parent)}: {made.stderr.strip()}")
        mode = self._mode(path)
        self.box.write_file(path, text.encode(), mode=mode)

    def _mode(self, path: str) -> int:
        probe = self.box.exec(ExecRequest(command=f"stat -c %a {shlex.quote(path)}", timeout_seconds=30))
        if probe.ok and probe.stdout.strip().isdigit():
            return int(probe.stdout.strip(), 8)
        return 0o644

    def _view(self, path: str, view_range: Any) -> ToolResult:
        kind = self.box.exec(ExecRequest(command=f"test -d {shlex.quote(path)}", timeout_seconds=30))
        if kind.ok:
            listing = self.box.exec(
                ExecRequest(
                    command=f"cd {shlex.quote(path)} && find . -maxdepth 2 -not -path '*/.git*' "
                    "-not -path '*/node_modules/*' -not -path '*/.venv/*' | sort | head -400",
                    timeout_seconds=30,
                )
            )
            return ToolResult(content=truncate(listing.stdout) or "(empty directory)")
        lines = self._read(path).splitlines()
        start, end = 1, len(lines)
        if isinstance(view_range, list) and len(view_range) == 2 and all(isinstance(n, int) for n in view_range):
            start = max(1, view_range[0])
            end = len(lines) if view_range[1] == -1 else min(len(lines), view_range[1])
        numbered = "\n".join(f"{n:6}\t{lines[n - 1]}" for n in range(start, end + 1))
        return ToolResult(content=truncate(numbered) or "(empty file)")

    def _str_replace(self, path: str, old: Any, new: Any) -> ToolResult:
        if not isinstance(old, str) or not old:
            return ToolResult(content="str_replace needs old_str", is_error=True)
        if not isinstance(new, str):
            return ToolResult(content="new_str must be text", is_error=True)
        text = self._read(path)
        count = text.count(old)
        if count == 0:
            return ToolResult(content=f"old_str was not found in {self._shown(path)}; nothing changed", is_error=True)
        if count > 1:
            return ToolResult(
                content=f"old_str occurs {count} times in {self._shown(path)}; include more context to make it unique",
                is_error=True,
            )
        self._write(path, text.replace(old, new, 1))
        line = text[: text.index(old)].count("\n") + 1
        return ToolResult(content=f"edited {self._shown(path)} at line {line}")

    def _insert(self, path: str, after: Any, text: Any) -> ToolResult:
        if not isinstance(after, int) or not isinstance(text, str):
            return ToolResult(content="insert needs insert_line (a number) and insert_text", is_error=True)
        lines = self._read(path).split("\n")
        if not 0 <= after <= len(lines):
            return ToolResult(content=f"insert_line must be between 0 and {len(lines)}", is_error=True)
        lines[after:after] = text.split("\n")
        self._write(path, "\n".join(lines))
        return ToolResult(
            content=f"inserted {len(text.splitlines()) or 1} line(s) after line {after} of {self._shown(path)}"
        )


def _replies(arguments: dict[str, Any]) -> dict[int, str]:
    """The `replies` a submit gave, as far as they are well formed (a malformed entry is dropped)."""
    given = arguments.get("replies")
    replies: dict[int, str] = {}
    for entry in given[:100] if isinstance(given, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("comment_id"), int) and isinstance(entry.get("reply"), str):
            replies[entry["comment_id"]] = entry["reply"][:2000]
    return replies

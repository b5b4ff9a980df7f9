"""Secrets in a change: known values and well-known token shapes, looked for in the lines a diff adds.

Run before anything is published; a hit blocks the push. Findings name the file, the line and the
kind of secret, never the secret itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from core.unified_diff import DiffLine, HunkWalker, LineKind

PATTERNS: dict[str, re.Pattern[str]] = {
    "GitHub token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b"),
    "Slack token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,250}\b"),
    "Slack app token": re.compile(r"\bxapp-\d-[A-Za-z0-9-]{10,250}\b"),
    "Anthropic API key": re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,250}"),
    "OpenAI API key": re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9]{32,}\b"),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "private key": re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
}
# Text none of the patterns can match: each pattern needs one of these literals (tests/test_secrets.py
# holds every pattern to it), and one scan for them is ten times cheaper than all the patterns.
MAY_HOLD_A_TOKEN = re.compile(r"gh[pousr]_|github_pat_|xox[abposr]-|xapp-|sk-|AKIA|ASIA|AIza|PRIVATE KEY")
_MIN_KNOWN_LENGTH = 8  # shorter "secrets" would match everywhere


@dataclass(frozen=True, kw_only=True)
class Finding:
    path: str
    line: int
    kind: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}"


def scan_text(text: str, known: Iterable[str] = ()) -> list[str]:
    """The kinds of secret found in a text (e.g. a PR title or body)."""
    values = [v for v in known if v and len(v) >= _MIN_KNOWN_LENGTH]
    kinds = ["a credential dockhand was given" for v in values if v in text]
    kinds += [kind for kind, pattern in PATTERNS.items() if pattern.search(text)]
    return kinds


def scan_diff(diff: str, known: Iterable[str] = ()) -> list[Finding]:
    """Findings in the added lines of a unified `git diff` (made with --text, so binary content is seen too).

    Headers are read only between hunks (a hunk's line counts say where it ends), so an added line that
    happens to start with `++ ` is scanned like any other. A finding names its file and line, never the text.
    """
    findings: list[Finding] = []
    path = ""
    walker = HunkWalker()
    for raw in diff.split("\n"):
        found = walker.feed(raw)
        if found is None:  # between hunks: a file header
            if raw.startswith("diff --git "):
                path = _shown_path(raw.rsplit(" b/", 1)[-1] if " b/" in raw else raw[len("diff --git ") :], known)
            elif raw.startswith("+++ ") and raw[4:].startswith("b/"):
                path = _shown_path(raw[6:], known)
        elif isinstance(found, DiffLine) and found.kind is LineKind.ADDED and found.new is not None:
            findings += [Finding(path=path, line=found.new, kind=kind) for kind in scan_text(found.text, known)]
    return findings


def _shown_path(path: str, known: Iterable[str]) -> str:
    path = path.strip().strip('"')
    return "(a file whose name looks like a secret)" if scan_text(path, known) else path[:300]

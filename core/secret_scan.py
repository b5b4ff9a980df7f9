"""Secrets in a change: known values and well-known token shapes, looked for in the lines a diff adds.

Run before anything is published; a hit blocks the push. Findings name the file, the line and the
kind of secret, never the secret itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

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
_MIN_KNOWN_LENGTH = 8  # shorter "secrets" would match everywhere


@dataclass(frozen=True, kw_only=True)
class Finding:
    path: str
    line: int
    kind: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}"


def scan_diff(diff: str, known: Iterable[str] = ()) -> list[Finding]:
    """Findings in the added lines of a unified diff (`git diff` output)."""
    values = [v for v in known if v and len(v) >= _MIN_KNOWN_LENGTH]
    findings: list[Finding] = []
    path, line = "", 0
    for raw in diff.splitlines():
        if raw.startswith("+++ "):
            target = raw[4:].strip()
            path = target[2:] if target.startswith("b/") else target
            continue
        if raw.startswith("@@"):
            match = re.match(r"@@ -\d+(?:,\d+)? \+(\d+)", raw)
            line = int(match[1]) if match else 0
            continue
        if raw.startswith("+"):
            text = raw[1:]
            for value in values:
                if value in text:
                    findings.append(Finding(path=path, line=line, kind="a credential dockhand was given"))
            for kind, pattern in PATTERNS.items():
                if pattern.search(text):
                    findings.append(Finding(path=path, line=line, kind=kind))
            line += 1
        elif raw.startswith(" "):
            line += 1
    return findings

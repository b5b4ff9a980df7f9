"""Secrets out of everything dockhand shows: known credential values and common token shapes replaced.

Applied at the edges where text leaves dockhand or is kept for people: task logs and errors when they
are stored, API responses, Slack messages and GitHub comments, reviews and PR bodies when they are sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import SecretStr

from core.secret_scan import MAY_HOLD_A_TOKEN, PATTERNS
from core.settings import Settings

MIN_KNOWN_LENGTH = 8
MARK = "[redacted]"

_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----(?:.*?-----END (?:[A-Z]+ )?PRIVATE KEY-----)?", re.DOTALL
)


class Redactor:
    def __init__(self, known: Iterable[str] = (), *, patterns: bool = True) -> None:
        self.patterns = patterns
        values: set[str] = set()
        for value in known:
            if not value:
                continue
            values.add(value)
            if "\n" in value:  # a PEM key printed line by line: each long line of it is a secret too
                values.update(line.strip() for line in value.splitlines() if len(line.strip()) >= 16)
        # Longest first, so a secret containing another is replaced whole.
        self.known = sorted((v for v in values if len(v) >= MIN_KNOWN_LENGTH), key=len, reverse=True)

    def including(self, more: Iterable[str]) -> Redactor:
        """This redactor, also hiding `more` (e.g. a task's own environment values)."""
        return Redactor([*self.known, *more], patterns=self.patterns)

    @classmethod
    def from_settings(cls, settings: Settings) -> Redactor:
        values = [getattr(settings, name) for name in type(settings).model_fields]
        return cls(v.get_secret_value() for v in values if isinstance(v, SecretStr))

    def text(self, text: str) -> str:
        for value in self.known:
            if value in text:
                text = text.replace(value, MARK)
        if not self.patterns or not MAY_HOLD_A_TOKEN.search(text):
            return text
        for kind, pattern in PATTERNS.items():
            if kind == "private key":
                text = _PRIVATE_KEY.sub(f"[redacted {kind}]", text)
            else:
                text = pattern.sub(f"[redacted {kind}]", text)
        return text

    def value(self, data: Any) -> Any:
        """Every string inside a JSON-like value, redacted."""
        if isinstance(data, str):
            return self.text(data)
        if isinstance(data, dict):
            return {key: self.value(item) for key, item in data.items()}
        if isinstance(data, list | tuple):
            return [self.value(item) for item in data]
        return data

"""Parsing of repository references such as ``owner/repo``, ``owner/repo#12`` and ``repo#12``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import ValidationError

_NAME = r"[A-Za-z0-9_.-]{1,100}"
_REF = re.compile(rf"^(?:(?P<owner>{_NAME})/)?(?P<name>{_NAME})(?:#(?P<number>[0-9]{{1,9}}))?$")


@dataclass(frozen=True, kw_only=True)
class RepoRef:
    """A GitHub repository, optionally with an issue or PR number."""

    owner: str | None
    name: str
    number: int | None = None

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}" if self.owner else self.name

    def __str__(self) -> str:
        return self.full_name + (f"#{self.number}" if self.number is not None else "")

    @classmethod
    def parse(cls, text: str, *, default_owner: str | None = None) -> RepoRef:
        match = _REF.match(text.strip())
        if match is None or match["name"] in {".", ".."}:
            raise ValidationError(f"not a repository reference: {text!r} (expected owner/repo or owner/repo#12)")
        number = int(match["number"]) if match["number"] else None
        return cls(owner=match["owner"] or default_owner, name=match["name"], number=number)

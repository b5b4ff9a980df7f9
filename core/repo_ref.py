"""Parsing of repository references such as ``owner/repo``, ``owner/repo#12`` and ``repo#12``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import ValidationError

# GitHub owners are letters, digits and hyphens (GitHub Enterprise also allows underscores);
# repository names add dots, but "." and ".." are not names.
OWNER_PATTERN = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,38})"
NAME_PATTERN = r"(?!\.\.?(?:$|#))[A-Za-z0-9_.-]{1,100}"
_FULL_NAME = re.compile(rf"^{OWNER_PATTERN}/{NAME_PATTERN}$")
_REF = re.compile(rf"^(?:(?P<owner>{OWNER_PATTERN})/)?(?P<name>{NAME_PATTERN})(?:#(?P<number>[0-9]{{1,9}}))?$")


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
        if match is None:
            raise ValidationError(f"not a repository reference: {text!r} (expected owner/repo or owner/repo#12)")
        number = int(match["number"]) if match["number"] else None
        return cls(owner=match["owner"] or default_owner, name=match["name"], number=number)


def check_full_name(value: str) -> str:
    """Validate an ``owner/name`` string (for pydantic fields)."""
    if not _FULL_NAME.match(value):
        raise ValueError(f"not a repository name: {value!r} (expected owner/name)")
    return value

"""A check's outcome, and the small helpers every area of checks uses."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass


class CheckState(StrEnum):
    OK = "ok"
    FAIL = "fail"  # something dockhand needs is missing or broken: `doctor` exits non-zero
    WARN = "warn"  # works, but not as it should for a team (or something optional is broken)
    SKIP = "skip"  # not configured: that feature is off

    @property
    def mark(self) -> str:
        return {"ok": "✓", "fail": "✗", "warn": "!", "skip": "-"}[self.value]


@dataclass(frozen=True)
class Check:
    area: str
    name: str
    state: CheckState
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}


def secret_text(value: Any) -> str:
    return str(value.get_secret_value()) if value is not None else ""


def api_message(exc: Any) -> str:
    data = getattr(exc, "data", None)
    return str(data.get("message", "")) if isinstance(data, dict) else ""


def short_error(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]

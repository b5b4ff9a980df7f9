"""What a review found: typed findings from the model's `report_findings` tool, merged, ranked, capped,
fingerprinted (so an incremental review does not repeat itself) and turned into review comments."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from core.review.lines import ReviewComment, Side


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    SUGGESTION = "suggestion"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


class Category(StrEnum):
    BUGS = "bugs"
    SECURITY = "security"
    BEST_PRACTICES = "best-practices"
    PERFORMANCE = "performance"
    STYLE = "style"


_ICON = {Severity.ERROR: "🛑", Severity.WARNING: "⚠️", Severity.INFO: "\u2139\ufe0f", Severity.SUGGESTION: "💡"}

FINDINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "findings": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "File path as in the diff"},
                    "line": {"type": "integer", "minimum": 1, "description": "Line number on that side"},
                    "side": {
                        "type": "string",
                        "enum": ["RIGHT", "LEFT"],
                        "description": "RIGHT: new code; LEFT: removed",
                    },
                    "severity": {"type": "string", "enum": [s.value for s in Severity]},
                    "category": {"type": "string", "enum": [c.value for c in Category]},
                    "explanation": {"type": "string", "description": "What is wrong and why, briefly"},
                    "suggestion": {
                        "type": "string",
                        "description": "Optional: the replacement code for that line (a GitHub suggestion)",
                    },
                },
                "required": ["path", "line", "severity", "category", "explanation"],
            },
        }
    },
    "required": ["findings"],
}


@dataclass(frozen=True, kw_only=True)
class Finding:
    path: str
    line: int
    side: Side
    severity: Severity
    category: Category
    explanation: str
    suggestion: str | None = None

    @property
    def fingerprint(self) -> str:
        """Stable across pushes: where (file), what kind, and what was said — not the line number, which moves."""
        said = re.sub(r"\W+", " ", self.explanation.lower()).strip()[:120]
        return hashlib.sha256(f"{self.path}\0{self.category}\0{said}".encode()).hexdigest()[:16]

    def body(self) -> str:
        text = f"{_ICON[self.severity]} **{self.severity.value}** · {self.category.value}\n\n{self.explanation.strip()}"
        if self.suggestion is not None and self.side is Side.RIGHT:
            text += f"\n\n```suggestion\n{self.suggestion.rstrip(chr(10))}\n```"
        return text

    def as_comment(self) -> ReviewComment:
        return ReviewComment(path=self.path, line=self.line, side=self.side, body=self.body())

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "side": self.side.value,
            "severity": self.severity.value,
            "category": self.category.value,
            "explanation": self.explanation,
            "suggestion": self.suggestion,
            "fingerprint": self.fingerprint,
        }


def parse_findings(arguments: Any) -> tuple[list[Finding], list[str]]:
    """Findings from the tool's input, and what was wrong with the entries that could not be used."""
    problems: list[str] = []
    found: list[Finding] = []
    items = arguments.get("findings") if isinstance(arguments, dict) else None
    if not isinstance(items, list):
        return [], ["`findings` must be a list"]
    for i, item in enumerate(items):
        try:
            found.append(
                Finding(
                    path=str(item["path"]).strip().removeprefix("b/").removeprefix("a/"),
                    line=int(item["line"]),
                    side=Side(str(item.get("side") or "RIGHT").upper()),
                    severity=Severity(str(item["severity"]).lower()),
                    category=Category(str(item["category"]).lower()),
                    explanation=str(item["explanation"]).strip()[:3000],
                    suggestion=str(item["suggestion"])[:5000] if item.get("suggestion") is not None else None,
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"finding {i}: {type(exc).__name__}: {exc}")
    return [f for f in found if f.line >= 1 and f.explanation], problems


def merge(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per place and kind (the most severe wins; their explanations are joined), ranked."""
    by_place: dict[tuple[str, int, Side, Category], Finding] = {}
    for finding in findings:
        key = (finding.path, finding.line, finding.side, finding.category)
        seen = by_place.get(key)
        if seen is None:
            by_place[key] = finding
            continue
        best, other = (finding, seen) if finding.severity.rank < seen.severity.rank else (seen, finding)
        explanation = best.explanation
        if other.explanation.strip().lower() not in explanation.lower():
            explanation = f"{explanation}\n\n{other.explanation}"
        by_place[key] = Finding(
            path=best.path, line=best.line, side=best.side, severity=best.severity, category=best.category,
            explanation=explanation, suggestion=best.suggestion or other.suggestion,
        )  # fmt: skip
    return sorted(by_place.values(), key=lambda f: (f.severity.rank, f.path, f.line))

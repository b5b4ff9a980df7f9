"""Coverage from the tools' own reports, and the coverage of the lines a change added or modified."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from core.testrun.model import Coverage, FileCoverage
from core.testrun.parsers import ReportError


def _json(data: bytes | str, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ReportError(f"the {what} report is not valid JSON: {exc}") from None


def parse_coverage_py(data: bytes | str) -> Coverage:
    """coverage.py's `coverage json`: statements, with executed and missing line numbers per file."""
    report = _json(data, "coverage.py")
    try:
        files = [
            FileCoverage(
                path=path,
                covered=int(info["summary"]["covered_lines"]),
                total=int(info["summary"]["num_statements"]),
                covered_lines=frozenset(info.get("executed_lines", [])),
                missed_lines=frozenset(info.get("missing_lines", [])),
            )
            for path, info in sorted(report["files"].items())
        ]
        totals = report["totals"]
        return Coverage(covered=int(totals["covered_lines"]), total=int(totals["num_statements"]), files=files)
    except (KeyError, TypeError, ValueError) as exc:
        raise ReportError(f"the coverage.py report lacks {exc}") from None


def parse_istanbul_summary(data: bytes | str, root: str = "") -> Coverage:
    """Istanbul/c8 `json-summary` (coverage-summary.json): line totals per file, no line numbers."""
    report = _json(data, "Istanbul summary")
    try:
        files = [
            FileCoverage(
                path=_relative(path, root), covered=int(info["lines"]["covered"]), total=int(info["lines"]["total"])
            )
            for path, info in sorted(report.items())
            if path != "total"
        ]
        total = report["total"]["lines"]
        return Coverage(covered=int(total["covered"]), total=int(total["total"]), files=files)
    except (KeyError, TypeError, ValueError) as exc:
        raise ReportError(f"the Istanbul summary lacks {exc}") from None


def parse_istanbul_final(data: bytes | str, root: str = "") -> Coverage:
    """Istanbul/c8 `json` (coverage-final.json): statement maps with hit counts, so per-line data."""
    report = _json(data, "Istanbul")
    files = []
    try:
        for path, info in sorted(report.items()):
            hit: dict[int, bool] = {}
            for sid, loc in info["statementMap"].items():
                line = int(loc["start"]["line"])
                hit[line] = hit.get(line, False) or int(info["s"].get(sid, 0)) > 0
            covered = frozenset(line for line, ok in hit.items() if ok)
            missed = frozenset(line for line, ok in hit.items() if not ok)
            files.append(
                FileCoverage(
                    path=_relative(path, root),
                    covered=len(covered),
                    total=len(hit),
                    covered_lines=covered,
                    missed_lines=missed,
                )
            )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ReportError(f"the Istanbul report lacks {exc}") from None
    return Coverage(covered=sum(f.covered for f in files), total=sum(f.total for f in files), files=files)


_GO_BLOCK = re.compile(
    r"^(?P<file>.+):(?P<l1>\d+)\.(?P<c1>\d+),(?P<l2>\d+)\.(?P<c2>\d+) (?P<stmts>\d+) (?P<count>\d+)$"
)


def parse_go_coverprofile(data: bytes | str, module: str = "") -> Coverage:
    """`go test -coverprofile`: statement blocks with counts; paths made relative to the module."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    lines = text.splitlines()
    if not lines or not lines[0].startswith("mode:"):
        raise ReportError("the Go cover profile does not start with 'mode:'")
    # The same block can appear several times (one per test binary): a block counts once, covered if any run hit it.
    blocks: dict[tuple[str, int, int, int, int, int], bool] = {}
    for line in lines[1:]:
        match = _GO_BLOCK.match(line.strip())
        if match is None:
            continue
        path = match["file"]
        if module and path.startswith(module + "/"):
            path = path[len(module) + 1 :]
        key = (path, int(match["l1"]), int(match["c1"]), int(match["l2"]), int(match["c2"]), int(match["stmts"]))
        blocks[key] = blocks.get(key, False) or int(match["count"]) > 0
    per_file: dict[str, list[tuple[int, int, int, bool]]] = defaultdict(list)
    for (path, l1, _c1, l2, _c2, stmts), hit in blocks.items():
        per_file[path].append((l1, l2, stmts, hit))
    files = []
    for path, entries in sorted(per_file.items()):
        covered_lines = {n for l1, l2, _, hit in entries if hit for n in range(l1, l2 + 1)}
        missed_lines = {n for l1, l2, _, hit in entries if not hit for n in range(l1, l2 + 1)} - covered_lines
        files.append(FileCoverage(
            path=path,
            covered=sum(stmts for _, _, stmts, hit in entries if hit),
            total=sum(stmts for _, _, stmts, _ in entries),
            covered_lines=frozenset(covered_lines),
            missed_lines=frozenset(missed_lines),
        ))  # fmt: skip
    return Coverage(covered=sum(f.covered for f in files), total=sum(f.total for f in files), files=files)


@dataclass(frozen=True, kw_only=True)
class DiffCoverage:
    """Of the lines a change added or modified that tests can execute, how many they did."""

    covered: int
    total: int
    uncovered: dict[str, list[int]]

    @property
    def percent(self) -> float | None:
        return round(100.0 * self.covered / self.total, 2) if self.total else None


_HUNK = re.compile(r"^@@ -\d+(?:,(?P<old_count>\d+))? \+(?P<start>\d+)(?:,(?P<count>\d+))? @@")


def changed_lines(diff: str) -> dict[str, set[int]]:
    """Added or modified lines per file (new-side numbers) from a unified diff (`git diff -U0 base`).

    Inside a hunk the header's line counts say how many lines follow, so content that looks like a
    header (a line of C starting with `++`) is never mistaken for one."""
    changed: dict[str, set[int]] = defaultdict(set)
    path: str | None = None
    line_no = old_left = new_left = 0
    for line in diff.splitlines():
        if old_left > 0 or new_left > 0:
            if line.startswith("+"):
                if path is not None:
                    changed[path].add(line_no)
                line_no += 1
                new_left -= 1
            elif line.startswith("-"):
                old_left -= 1
            elif line.startswith(" "):
                line_no += 1
                old_left -= 1
                new_left -= 1
            # "\ No newline at end of file" counts for neither side
            continue
        if line.startswith("+++ "):
            target = _unquote(line[4:].strip())
            path = None if target == "/dev/null" else target.removeprefix("b/")
        elif match := _HUNK.match(line):
            line_no = int(match["start"])
            new_left = int(match["count"]) if match["count"] is not None else 1
            old_left = int(match["old_count"]) if match["old_count"] is not None else 1
    return dict(changed)


def _unquote(path: str) -> str:
    """git C-quotes unusual paths ("b/caf\\303\\251.py") unless core.quotePath is off."""
    if len(path) >= 2 and path[0] == path[-1] == '"':
        raw = path[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
        return raw.encode("latin-1").decode("utf-8", "replace")
    return path


def diff_coverage(coverage: Coverage, changed: dict[str, set[int]], root: str = "") -> DiffCoverage | None:
    """None when the coverage has no per-line data (e.g. an Istanbul summary)."""
    by_path = {_join(root, f.path): f for f in coverage.files}
    if coverage.files and not any(f.covered_lines or f.missed_lines for f in coverage.files):
        return None
    covered = total = 0
    uncovered: dict[str, list[int]] = {}
    for path, lines in changed.items():
        info = by_path.get(path)
        if info is None:
            continue
        executable = lines & (info.covered_lines | info.missed_lines)
        hit = executable & info.covered_lines
        covered += len(hit)
        total += len(executable)
        if executable - hit:
            uncovered[path] = sorted(executable - hit)
    return DiffCoverage(covered=covered, total=total, uncovered=uncovered)


def _relative(path: str, root: str) -> str:
    if root and path.startswith(root.rstrip("/") + "/"):
        return path[len(root.rstrip("/")) + 1 :]
    return path


def _join(root: str, path: str) -> str:
    return str(PurePosixPath(root) / path) if root and root != "." else path

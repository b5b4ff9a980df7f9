"""Coverage from the tools' own reports, and the coverage of the lines a change added or modified."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from core.testrun.model import Coverage, FileCoverage
from core.testrun.parsers import ReportError
from core.testrun.plan import read_text
from core.unified_diff import DiffLine, HunkWalker, LineKind, diff_path


def _json(data: bytes | str, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ReportError(f"the {what} report is not valid JSON: {exc}") from None


def parse_coverage_py(data: bytes | str) -> Coverage:
    """coverage.py's `coverage json`: statements, with executed and missing line numbers per file, and
    branches when it measured them (`branch = True`); the figure is then the one `coverage report` prints."""
    report = _json(data, "coverage.py")
    try:
        files = [
            FileCoverage(
                path=path,
                covered=int(info["summary"]["covered_lines"]),
                total=int(info["summary"]["num_statements"]),
                covered_lines=frozenset(info.get("executed_lines", [])),
                missed_lines=frozenset(info.get("missing_lines", [])),
                **_branch_counts(info["summary"]),
            )
            for path, info in sorted(report["files"].items())
        ]
        totals = report["totals"]
        return Coverage(
            covered=int(totals["covered_lines"]),
            total=int(totals["num_statements"]),
            files=files,
            **_branch_counts(totals),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ReportError(f"the coverage.py report lacks {exc}") from None


def _branch_counts(summary: dict[str, Any]) -> dict[str, int]:
    """Branch counts from a coverage.py summary; none without branch coverage (the keys are absent then)."""
    return {
        "covered_branches": int(summary.get("covered_branches", 0)),
        "branches": int(summary.get("num_branches", 0)),
    }


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


def parse_go_coverprofile(data: bytes | str, module: str = "", source: Path | None = None) -> Coverage:
    """`go test -coverprofile`: statement blocks with counts; paths made relative to the module.

    Totals are Go's own statement counts. Per-line data (for diff coverage) needs the lines that hold
    code: a block spans from its opening brace to its closing one, comments and blank lines included, so
    with the module's source (the host checkout's folder, `source`) only the lines of a block's span with
    code on them count; without it, only each block's first line (a statement starts there)."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    lines = text.splitlines()
    if not lines or not lines[0].startswith("mode:"):
        raise ReportError("the Go cover profile does not start with 'mode:'")
    # The same block can appear several times (one per test binary): a block counts once, covered if any run hit it.
    blocks: dict[tuple[str, int, int, int, int, int], bool] = {}
    in_module: set[str] = set()
    for line in lines[1:]:
        match = _GO_BLOCK.match(line.strip())
        if match is None:
            continue
        path = match["file"]
        if module and path.startswith(module + "/"):
            path = path[len(module) + 1 :]
            in_module.add(path)
        key = (path, int(match["l1"]), int(match["c1"]), int(match["l2"]), int(match["c2"]), int(match["stmts"]))
        blocks[key] = blocks.get(key, False) or int(match["count"]) > 0
    per_file: dict[str, list[tuple[_Span, int, bool]]] = defaultdict(list)
    for (path, l1, c1, l2, c2, stmts), hit in blocks.items():
        per_file[path].append(((l1, c1, l2, c2), stmts, hit))
    files = []
    for path, entries in sorted(per_file.items()):
        masks = _go_code_masks(_go_source(source, path)) if source is not None and path in in_module else None
        covered_lines = {n for span, _, hit in entries if hit for n in _go_block_lines(span, masks)}
        missed_lines = {n for span, _, hit in entries if not hit for n in _go_block_lines(span, masks)} - covered_lines
        files.append(FileCoverage(
            path=path,
            covered=sum(stmts for _, stmts, hit in entries if hit),
            total=sum(stmts for _, stmts, _ in entries),
            covered_lines=frozenset(covered_lines),
            missed_lines=frozenset(missed_lines),
        ))  # fmt: skip
    return Coverage(covered=sum(f.covered for f in files), total=sum(f.total for f in files), files=files)


_Span = tuple[int, int, int, int]  # line.column to line.column, 1-based, the end column exclusive (bytes)


def _go_block_lines(span: _Span, masks: list[bytes] | None) -> list[int]:
    """The lines of a block's span that hold code; the first line alone when the source is unknown or
    does not match the profile (changed since, or truncated)."""
    l1, c1, l2, c2 = span
    if masks is None or l2 > len(masks) or l2 < l1:
        return [l1]
    found = []
    for n in range(l1, l2 + 1):
        line = masks[n - 1]
        start = c1 - 1 if n == l1 else 0
        end = c2 - 1 if n == l2 else len(line)
        if line[max(start, 0) : end].strip(_NOT_CODE):
            found.append(n)
    return found


def _go_source(root: Path, rel: str) -> str:
    """A module file's text from the host checkout: only a plain relative path, no symlink on the way."""
    parts = PurePosixPath(rel).parts
    if not parts or PurePosixPath(rel).is_absolute() or any(part in ("", ".", "..") for part in parts):
        return ""
    path = root
    for part in parts:
        path = path / part
        if path.is_symlink():  # a repository's symlink can point anywhere on the host
            return ""
    return read_text(path)


# Comments, and string and rune literals (a raw string may span lines), as Go's scanner reads them; the
# leftmost match wins, so a `//` inside a string is the string's.
_GO_SKIP = re.compile(rb'//[^\n]*|/\*.*?(?:\*/|\Z)|"(?:\\.|[^"\\\n])*"?|\'(?:\\.|[^\'\\\n])*\'?|`[^`]*`?', re.DOTALL)
_NOT_CODE = b" \t\r\v\f{}()[],;"  # white space, and brackets, braces, parens, commas and semicolons alone


def _go_code_masks(text: str) -> list[bytes] | None:
    """Each source line with its comments blanked out and its literals' contents made `x`, byte for byte
    (Go's columns are byte offsets), so that a slice holds code exactly when it has something left after
    stripping `_NOT_CODE`. None when there is no source."""
    if not text:
        return None

    def blank(match: re.Match[bytes]) -> bytes:
        token = match[0]
        fill = b" " if token.startswith(b"/") else b"x"
        return bytes(c if c == 0x0A else fill[0] for c in token)

    return _GO_SKIP.sub(blank, text.encode("utf-8")).split(b"\n")


@dataclass(frozen=True, kw_only=True)
class DiffCoverage:
    """Of the lines a change added or modified that tests can execute, how many they did."""

    covered: int
    total: int
    uncovered: dict[str, list[int]]

    @property
    def percent(self) -> float | None:
        return round(100.0 * self.covered / self.total, 2) if self.total else None


def changed_lines(diff: str) -> dict[str, set[int]]:
    """Added or modified lines per file (new-side numbers) from a unified diff (`git diff -U0 base`)."""
    changed: dict[str, set[int]] = defaultdict(set)
    path: str | None = None
    walker = HunkWalker()
    for line in diff.split("\n"):  # not splitlines(): a form feed or U+2028 inside a line is not a line break
        found = walker.feed(line.removesuffix("\r"))
        if found is None and line.startswith("+++ "):
            path = diff_path(line[4:].strip(), "b/")
        elif isinstance(found, DiffLine) and found.kind is LineKind.ADDED and path is not None and found.new:
            changed[path].add(found.new)
    return dict(changed)


def diff_coverage(coverage: Coverage, changed: dict[str, set[int]], root: str = "") -> DiffCoverage | None:
    """None when the coverage has no per-line data (e.g. an Istanbul summary)."""
    by_path = {_join(root, f.path): f for f in coverage.files}
    if coverage.files and not any(f.covered_lines or f.missed_lines for f in coverage.files):
        return None
    installed = {_installed_part(f.path): f for f in coverage.files if "site-packages/" in f.path}
    covered = total = 0
    uncovered: dict[str, list[int]] = {}
    for path, lines in changed.items():
        info = by_path.get(path) or _installed_copy(installed, path)
        if info is None:
            continue
        executable = lines & (info.covered_lines | info.missed_lines)
        hit = executable & info.covered_lines
        covered += len(hit)
        total += len(executable)
        if executable - hit:
            uncovered[path] = sorted(executable - hit)
    return DiffCoverage(covered=covered, total=total, uncovered=uncovered)


def _installed_part(path: str) -> str:
    """`.venv/lib/python3.11/site-packages/pkg/mod.py` → `pkg/mod.py`: a module measured where it was installed."""
    return path.rsplit("site-packages/", 1)[1]


def _installed_copy(installed: dict[str, FileCoverage], path: str) -> FileCoverage | None:
    """A checkout file's installed copy (a regular `pip install .` of `src/pkg/mod.py` runs `…/site-packages/
    pkg/mod.py`): the longest installed path the checkout path ends with."""
    parts = PurePosixPath(path).parts
    for start in range(len(parts)):
        if found := installed.get("/".join(parts[start:])):
            return found
    return None


def _relative(path: str, root: str) -> str:
    if root and path.startswith(root.rstrip("/") + "/"):
        return path[len(root.rstrip("/")) + 1 :]
    return path


def _join(root: str, path: str) -> str:
    return str(PurePosixPath(root) / path) if root and root != "." else path

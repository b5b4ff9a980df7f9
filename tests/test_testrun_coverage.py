"""Coverage figures on the real tools' real reports (tests/fixtures/testrun): branch coverage from
coverage.py, and the lines of Go's statement blocks that hold code (no Docker). And the checkouts a
cached build is judged against: their mtimes are the commit's, so a restored target/ stays fresh (Docker)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from core.sandboxing import ExecRequest
from core.testrun.coverage import changed_lines, diff_coverage, parse_coverage_py, parse_go_coverprofile
from core.testrun.model import Coverage, FileCoverage
from sandbox.git import RepoMirrors, materialize
from sandbox.manager import SandboxManager
from sandbox.workspace_tree import load_tree

FIXTURES = Path(__file__).parent / "fixtures" / "testrun"
SHAPES = FIXTURES / "go-shapes"


def test_branch_coverage_is_the_figure_coverage_report_prints() -> None:
    report = (FIXTURES / "coverage-py-branch-report.txt").read_text()
    total = re.search(r"^TOTAL\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+([\d.]+)%$", report, re.MULTILINE)
    assert total is not None
    coverage = parse_coverage_py((FIXTURES / "coverage-py-branch.json").read_bytes())
    assert coverage.percent == float(total[5]) == 83.33  # lines alone would be 16/18 = 88.89
    assert (coverage.total, coverage.total - coverage.covered, coverage.branches) == tuple(
        int(total[i]) for i in (1, 2, 3)
    )
    assert (coverage.covered_branches, coverage.branches) == (9, 12)
    calc = coverage.files[0]
    assert (calc.path, calc.percent, calc.covered_branches, calc.branches) == ("calc.py", 83.33, 9, 12)
    summary = coverage.summary()
    assert (summary["percent"], summary["covered"], summary["total"]) == (83.33, 16, 18)
    assert (summary["covered_branches"], summary["branches"]) == (9, 12)
    assert summary["files"]["calc.py"] == {
        "percent": 83.33,
        "covered": 16,
        "total": 18,
        "covered_branches": 9,
        "branches": 12,
    }


def test_every_coverage_py_figure_is_its_own_percent_covered() -> None:
    for name in ("coverage-py.json", "coverage-py-branch.json"):
        raw = json.loads((FIXTURES / name).read_text())
        coverage = parse_coverage_py(json.dumps(raw))
        assert coverage.percent == round(raw["totals"]["percent_covered"], 2)
        for f in coverage.files:
            assert f.percent == round(raw["files"][f.path]["summary"]["percent_covered"], 2)
    # Without branch coverage the summaries have no branch keys: the figure is lines alone.
    branch_keys = ("num_branches", "covered_branches", "missing_branches", "num_partial_branches")
    for summary in [raw["totals"], *(info["summary"] for info in raw["files"].values())]:
        for key in branch_keys:
            summary.pop(key)
    lines_only = parse_coverage_py(json.dumps(raw))
    assert (lines_only.branches, lines_only.percent) == (0, 88.89)
    # ... and its summary is the one line coverage always had.
    assert lines_only.summary() == {
        "percent": 88.89,
        "covered": 16,
        "total": 18,
        "files": {"calc.py": {"percent": 88.89, "covered": 16, "total": 18}},
    }
    assert Coverage(covered=0, total=0).percent is None
    assert FileCoverage(path="a", covered=1, total=2, covered_branches=1, branches=2).percent == 50.0


# shapes.go, as `go test -coverprofile` (Go 1.19) measured it: the lines with code in each block.
SHAPES_COVERED = [12, 13, 18, 20, 24, 42, 43, 44]  # the raw string's lines (43, 44) are code
SHAPES_MISSED = [22, 29, 31, 32, 33, 34, 35, 37]


def test_go_blocks_count_only_lines_with_code() -> None:
    profile = (SHAPES / "cover.out").read_bytes()
    coverage = parse_go_coverprofile(profile, "example.com/shapes", SHAPES)
    shapes = coverage.files[0]
    assert shapes.path == "shapes.go"
    assert sorted(shapes.covered_lines) == SHAPES_COVERED and sorted(shapes.missed_lines) == SHAPES_MISSED
    source = (SHAPES / "shapes.go").read_text().splitlines()
    for n in shapes.covered_lines | shapes.missed_lines:
        text = source[n - 1].strip()
        assert text and not text.startswith(("//", "/*")) and text.strip("{}()[],;"), (n, text)
    # Comments, blank lines and braces inside blocks are not executable.
    for n in (11, 14, 15, 16, 17, 30, 36, 38, 39, 45):
        assert n not in shapes.covered_lines | shapes.missed_lines, (n, source[n - 1])
    # The totals stay Go's own statement counts: `coverage: 66.7% of statements`.
    assert (coverage.covered, coverage.total, coverage.percent) == (6, 9, 66.67)


def test_go_diff_coverage_ignores_comments_and_braces_a_change_touched() -> None:
    coverage = parse_go_coverprofile((SHAPES / "cover.out").read_bytes(), "example.com/shapes", SHAPES)
    # A change that rewrote Describe's comment, its `if` and the brace after it, and Banner's body.
    diff = "--- a/shapes.go\n+++ b/shapes.go\n@@ -10,0 +11,4 @@\n" + "+x\n" * 4 + "@@ -28,0 +29,3 @@\n" + "+x\n" * 3
    result = diff_coverage(coverage, changed_lines(diff))
    assert result is not None
    assert (result.covered, result.total, result.uncovered) == (2, 4, {"shapes.go": [29, 31]})


def test_diff_coverage_finds_a_regularly_installed_copy_of_a_changed_file() -> None:
    # A tox-style `pip install .`: coverage measured the copy in site-packages, the change is to src/.
    installed = FileCoverage(
        path=".venv/lib/python3.11/site-packages/pkg/mod.py",
        covered=1, total=2, covered_lines=frozenset({3}), missed_lines=frozenset({5}),
    )  # fmt: skip
    coverage = Coverage(covered=1, total=2, files=[installed])
    diff = "--- a/src/pkg/mod.py\n+++ b/src/pkg/mod.py\n@@ -2,0 +3,3 @@\n+a\n+b\n+c\n"
    result = diff_coverage(coverage, changed_lines(diff))
    assert result is not None and (result.covered, result.total) == (1, 2)
    assert result.uncovered == {"src/pkg/mod.py": [5]}
    other = "--- a/src/other/mod.py\n+++ b/src/other/mod.py\n@@ -2,0 +3,1 @@\n+a\n"
    assert diff_coverage(coverage, changed_lines(other)) == diff_coverage(coverage, {})


def test_go_without_the_source_only_each_blocks_first_line_counts(tmp_path: Path) -> None:
    profile = (SHAPES / "cover.out").read_bytes()
    for source in (None, tmp_path):  # no checkout given, or the file is not in it
        shapes = parse_go_coverprofile(profile, "example.com/shapes", source).files[0]
        assert sorted(shapes.covered_lines) == [10, 12, 18, 19, 24, 41]
        assert sorted(shapes.missed_lines) == [21, 28]
    # A source that no longer matches the profile (shorter than a block's end) is not trusted either.
    (tmp_path / "shapes.go").write_text("package shapes\n")
    assert sorted(parse_go_coverprofile(profile, "example.com/shapes", tmp_path).files[0].missed_lines) == [21, 28]


def test_go_source_is_read_only_inside_the_checkout_and_never_through_a_symlink(tmp_path: Path) -> None:
    profile = (SHAPES / "cover.out").read_text()
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(SHAPES / "shapes.go", outside / "shapes.go")
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "pkg").symlink_to(outside)  # a repository's symlink to a folder elsewhere on the host
    (checkout / "shapes.go").symlink_to(outside / "shapes.go")
    escaping = profile.replace("example.com/shapes/shapes.go", "example.com/shapes/../outside/shapes.go")
    for text in (profile, profile.replace("shapes/shapes.go", "shapes/pkg/shapes.go"), escaping):
        coverage = parse_go_coverprofile(text, "example.com/shapes", checkout)
        assert sorted(coverage.files[0].missed_lines) == [21, 28], "fell back to first lines: nothing was read"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


def _sh(box, command: str) -> str:  # type: ignore[no-untyped-def]
    result = box.exec(ExecRequest(command=command, timeout_seconds=300))
    assert result.ok, result.stdout + result.stderr
    return result.stdout + result.stderr


@pytest.mark.slow
def test_a_checkout_has_the_commits_mtimes_so_a_restored_target_is_fresh(
    sandbox_manager: SandboxManager, tmp_path: Path
) -> None:
    crate = tmp_path / "crate"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text('[package]\nname = "fresh"\nversion = "0.1.0"\nedition = "2021"\n')
    (crate / "src" / "lib.rs").write_text("pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n")
    _git(crate, "init", "--quiet", "--initial-branch=main")
    _git(crate, "add", "-A")
    dated = {"GIT_COMMITTER_DATE": "2021-06-01T12:00:00Z", "GIT_AUTHOR_DATE": "2021-06-01T12:00:00Z"}
    subprocess.run(
        ["git", "-C", str(crate), "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "commit", "-qm", "one"],
        check=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **dated},
    )
    mirrors = RepoMirrors(tmp_path / "mirrors", allow_local=True)
    box = sandbox_manager.get_or_create("mtimes")
    stat = "cd /workspace && find . -path ./.git -prune -o -type f -printf '%T@ %p\\n' | sort -k2"
    seen = []
    for attempt in range(2):
        tree = materialize(mirrors, f"file://{crate}", None, tmp_path / f"tree{attempt}")
        load_tree(box, tree)
        seen.append(_sh(box, stat))
        if attempt == 0:
            _sh(box, "cargo build --offline -q && cp -a target /tmp/saved-target")
            time.sleep(1.1)  # a checkout's "now" would differ between the two
    assert seen[0] == seen[1]
    assert {line.split()[0].split(".")[0] for line in seen[0].splitlines()} == {"1622548800"}
    # The build from the first checkout, restored into the second, is fresh: nothing recompiles.
    out = _sh(box, "cp -a /tmp/saved-target target && cargo build --offline -v 2>&1")
    assert "Fresh fresh" in out and "Compiling" not in out, out

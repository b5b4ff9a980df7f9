"""The one hunk walker, and what reads diffs through it: secret scanning, diff coverage, review lines."""

from __future__ import annotations

from core.secret_scan import scan_diff
from core.testrun.coverage import changed_lines
from core.unified_diff import DiffLine, Hunk, HunkWalker, LineKind, diff_path, parse_hunk

TOKEN = "ghp_" + "a1B2" * 9  # a GitHub token's shape

DIFF = f"""diff --git a/app.py b/app.py
index 1111111..2222222 100644
--- a/app.py
+++ b/app.py
@@ -1,3 +1,4 @@
 import os
-KEY = os.environ["KEY"]
+KEY = "{TOKEN}"
++ not a header, an added line
 print(KEY)
\\ No newline at end of file
diff --git "a/caf\\303\\251.py" "b/caf\\303\\251.py"
--- "a/caf\\303\\251.py"
+++ "b/caf\\303\\251.py"
@@ -10 +10,2 @@ def f():
-    return 1
+    return 2
+    # {TOKEN}
"""


def test_hunk_headers_and_the_lines_inside_them() -> None:
    assert parse_hunk("@@ -10 +10,2 @@ def f():") == Hunk(10, 1, 10, 2)
    assert parse_hunk("@@@ -1 +1 @@@") is None and parse_hunk("-- x") is None
    walker = HunkWalker()
    seen = [walker.feed(line) for line in DIFF.splitlines()]
    lines = [s for s in seen if isinstance(s, DiffLine)]
    assert [(d.kind, d.old, d.new) for d in lines[:5]] == [
        (LineKind.CONTEXT, 1, 1),
        (LineKind.REMOVED, 2, None),
        (LineKind.ADDED, None, 2),
        (LineKind.ADDED, None, 3),
        (LineKind.CONTEXT, 3, 4),
    ]
    assert seen[0] is None and seen[3] is None, "file headers are between hunks"
    assert seen[10] is None, "after a hunk's last line, its no-newline marker belongs to no hunk"
    assert (lines[5].kind, lines[5].old) == (LineKind.REMOVED, 10)


def test_paths_in_headers() -> None:
    assert diff_path('"b/caf\\303\\251.py"', "b/") == "café.py"
    assert diff_path("b/with space.py\t2026-01-01", "b/") == "with space.py"
    assert diff_path("/dev/null", "b/") is None


def test_secret_scan_and_diff_coverage_read_the_same_lines() -> None:
    findings = {(f.path, f.line) for f in scan_diff(DIFF)}
    assert ("app.py", 2) in findings and any(line == 11 for _, line in findings)
    assert changed_lines(DIFF) == {"app.py": {2, 3}, "café.py": {10, 11}}


def test_a_form_feed_inside_an_added_line_is_no_line_break() -> None:
    diff = "--- a/x.c\n+++ b/x.c\n@@ -0,0 +1,4 @@\n+a\n+\f\n+b\u2028c\n+d\n"
    assert changed_lines(diff) == {"x.c": {1, 2, 3, 4}}

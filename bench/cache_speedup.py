"""Benchmark: a Go and a Rust project tested twice; the second run restores the dependency cache.

    .venv/bin/python bench/cache_speedup.py [--go-packages 4] [--go-functions 3000] [--rust-modules 8]
                                            [--rust-functions 30] [--only go|rust] [--keep] [--quick]

Each project is generated into a temporary folder (stdlib only: no Go module proxy or crates.io is
needed) with enough code and tests that compiling it takes a while. Both runs are the real CLI,
`dockhand run test <dir> --force --json`, with one fresh data directory (DOCKHAND_DATA_DIR) shared by
the two runs: the first finds an empty cache, builds, tests and saves the cache (for Go and Rust
after the test run, so the Go build cache and cargo's target/ are in it); the second restores it.
Prints each run's wall time and its test stage's time, and the first/second ratio; reports the whole run's
ratio per project as "cached deps vs fresh install" (context, no goal: the whole run includes the build and the
tests themselves; issue 21's goal for cached dependencies is bench/snapshot_start.py's row). Needs the Docker
engine and the sandbox image (`dockhand image build`); without them it says so and reports its rows as skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._docker import docker_missing  # noqa: E402
from bench._stats import BenchResult, parse_with_quick, report  # noqa: E402

DOCKHAND = ROOT / ".venv" / "bin" / "dockhand"


@dataclass(frozen=True, kw_only=True)
class Run:
    seconds: float
    test_seconds: float | None
    status: str
    cache: str | None
    totals: dict[str, int]
    error: str | None = None


# --- the projects -------------------------------------------------------------------------------
def go_project(folder: Path, packages: int, functions: int) -> None:
    """A module of `packages` packages, each with `functions` branchy functions and tests that call them all."""
    folder.mkdir(parents=True)
    (folder / "go.mod").write_text("module example.com/bench\n\ngo 1.19\n")
    for p in range(packages):
        pkg = folder / f"p{p}"
        pkg.mkdir()
        body = [
            f"// Package p{p} is generated: branchy arithmetic, enough of it that compiling takes a while.",
            f"package p{p}",
            "",
        ]
        tests = [f"package p{p}", "", 'import "testing"', ""]
        for f in range(functions):
            body += [
                f"// F{f} folds 0..n into a sum whose steps depend on the remainders.",
                f"func F{f}(n int) int {{",
                "\ts := 0",
                "\tfor i := 0; i < n; i++ {",
                f"\t\tswitch i % {f % 7 + 3} {{",
                "\t\tcase 0:",
                f"\t\t\ts += i * {f + 1}",
                "\t\tcase 1:",
                f"\t\t\ts -= i + {f}",
                "\t\tdefault:",
                f"\t\t\tif s > {f * 10} {{",
                "\t\t\t\ts /= 2",
                "\t\t\t} else {",
                f"\t\t\t\ts += {f % 5}",
                "\t\t\t}",
                "\t\t}",
                "\t}",
                "\treturn s",
                "}",
                "",
            ]
        # A few tests per package, each over a slice of the functions: the run is the build, not the report.
        for start in range(0, functions, 60):
            calls = ", ".join(f"F{f}" for f in range(start, min(start + 60, functions)))
            tests += [
                f"func TestBlock{start}(t *testing.T) {{",
                f"\tfor i, f := range []func(int) int{{{calls}}} {{",
                "\t\tif got, again := f(50), f(50); got != again {",
                '\t\t\tt.Fatalf("function %d is not deterministic: %d, %d", i, got, again)',
                "\t\t}",
                "\t}",
                "}",
                "",
            ]
        (pkg / f"p{p}.go").write_text("\n".join(body))
        (pkg / f"p{p}_test.go").write_text("\n".join(tests))


def rust_project(folder: Path, modules: int, functions: int) -> None:
    """A crate of `modules` modules of generic code (monomorphised per use: slow to compile) with tests."""
    (folder / "src").mkdir(parents=True)
    (folder / "Cargo.toml").write_text(
        '[package]\nname = "bench"\nversion = "0.1.0"\nedition = "2021"\n\n[lib]\ndoctest = false\n'
    )
    (folder / "Cargo.lock").write_text('version = 3\n\n[[package]]\nname = "bench"\nversion = "0.1.0"\n')
    (folder / "src" / "lib.rs").write_text("".join(f"pub mod m{m};\n" for m in range(modules)))
    for m in range(modules):
        lines = [
            "use std::collections::{BTreeMap, HashMap};",
            "",
            "#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]",
            "pub struct Item {",
            "    pub key: String,",
            "    pub value: i64,",
            "}",
            "",
        ]
        tests = ["#[cfg(test)]", "mod tests {", "    use super::*;", ""]
        for f in range(functions):
            lines += [
                f"pub fn f{f}<T: Clone + Into<i64>>(xs: &[T]) -> BTreeMap<String, Vec<Item>> {{",
                "    let mut groups: HashMap<String, Vec<Item>> = HashMap::new();",
                "    for (i, x) in xs.iter().cloned().enumerate() {",
                "        let value: i64 = x.into();",
                f'        let key = format!("k{{}}", (value + i as i64) % {f % 5 + 2});',
                "        groups.entry(key.clone()).or_default().push(Item { key, value });",
                "    }",
                "    groups",
                "        .into_iter()",
                f"        .map(|(k, mut v)| {{ v.sort(); v.retain(|item| item.value % {f % 3 + 2} != 1); (k, v) }})",
                "        .collect()",
                "}",
                "",
            ]
            tests += [
                "    #[test]",
                f"    fn f{f}_groups_every_kept_item() {{",
                f"        let small = f{f}(&[1u8, 2, 3, 4, 5, 6, 7, 8]);",
                f"        let wide = f{f}(&[1i32, -2, 30, 400]);",
                "        assert!(small.values().flatten().all(|item| item.key.starts_with('k')));",
                "        assert!(wide.len() <= 4);",
                "    }",
                "",
            ]
        (folder / "src" / f"m{m}.rs").write_text("\n".join([*lines, *tests, "}", ""]))


# --- the runs -----------------------------------------------------------------------------------
def run_once(project: Path, data_dir: Path) -> Run:
    env = {**os.environ, "DOCKHAND_DATA_DIR": str(data_dir)}
    started = time.monotonic()
    done = subprocess.run(
        [str(DOCKHAND), "run", "test", str(project), "--force", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=3600,
    )
    seconds = time.monotonic() - started
    try:
        result = json.loads(done.stdout)
    except json.JSONDecodeError:
        sys.exit(f"no JSON from dockhand (exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    project_result = (result.get("projects") or [{}])[0]
    return Run(
        seconds=seconds,
        test_seconds=project_result.get("duration_seconds"),
        status=str(project_result.get("status", result.get("status", "?"))),
        cache=_cache_outcome(done.stderr),
        totals={k: project_result[k] for k in ("passed", "failed", "skipped", "errors") if k in project_result},
        error=project_result.get("error") or result.get("error"),
    )


def _cache_outcome(log: str) -> str:
    """What the run's log (stderr) says the dependency cache did."""
    saved = re.search(r"cache saved \(([^)]*)\)", log)
    if "restored from the cache" in log:
        return "hit"
    return f"miss, saved ({saved[1]})" if saved else "miss, not saved"


def measure(name: str, project: Path, data_dir: Path) -> tuple[Run, Run]:
    first = run_once(project, data_dir)
    second = run_once(project, data_dir)
    for label, run in (("first", first), ("second", second)):
        test = f"{run.test_seconds:7.1f} s" if run.test_seconds is not None else "      ?  "
        print(
            f"{name:5} {label:6}  {run.seconds:7.1f} s  (test stage {test})  cache {run.cache:22}  "
            f"{run.status}  {run.totals}",
            flush=True,
        )
        if run.error:
            print(f"      {run.error[-1500:]}", flush=True)
    ratio = first.seconds / second.seconds if second.seconds else float("inf")
    print(f"{name:5} ratio   {ratio:.1f}x whole run, {test_ratio(first, second)} test stage", flush=True)
    return first, second


def test_ratio(first: Run, second: Run) -> str:
    return f"{first.test_seconds / second.test_seconds:.1f}x" if first.test_seconds and second.test_seconds else "?"


def result(name: str, first: Run, second: Run) -> BenchResult:
    """The row: the first run's wall time over the second's, with what each found in the cache."""
    path = f"cached deps vs fresh install, {name} (whole run)"
    failed = [run for run in (first, second) if run.status not in ("passed", "succeeded")]
    if failed or second.cache != "hit":
        why = f"{failed[0].status}: {(failed[0].error or '')[:60]}" if failed else f"second run: cache {second.cache}"
        return BenchResult(path=path, figure=None, unit="x", note=f"skipped: {why}")
    ratio = first.seconds / second.seconds
    return BenchResult(
        path=path,
        figure=round(ratio, 1),
        unit="x",
        # Context, not a goal: the whole run (the build and the tests themselves included); issue 21's "cached
        # dependencies vs fresh install" goal is bench/snapshot_start.py's row.
        note=f"fresh {first.seconds:.1f} s, cached {second.seconds:.1f} s; test stage {test_ratio(first, second)}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--go-packages", type=int, default=4)
    parser.add_argument("--go-functions", type=int, default=3000)
    parser.add_argument("--rust-modules", type=int, default=8)
    parser.add_argument("--rust-functions", type=int, default=30)
    parser.add_argument("--only", choices=("go", "rust"), help="measure one of the two projects")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (projects, data dirs)")
    args = parse_with_quick(parser, go_packages=2, go_functions=600, rust_modules=3, rust_functions=15)
    names = [name for name in ("go", "rust") if args.only in (None, name)]
    missing = docker_missing()
    if missing:
        print(missing)
        for name in names:
            path = f"cached deps vs fresh install, {name} (whole run)"
            report(BenchResult(path=path, figure=None, unit="x", note=missing[:80]))
        return
    tmp = Path(tempfile.mkdtemp(prefix="dockhand-cache-bench-"))
    try:
        if "go" in names:
            go_project(tmp / "go", args.go_packages, args.go_functions)
            report(result("go", *measure("go", tmp / "go", tmp / "data-go")))
        if "rust" in names:
            rust_project(tmp / "rust", args.rust_modules, args.rust_functions)
            report(result("rust", *measure("rust", tmp / "rust", tmp / "data-rust")))
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

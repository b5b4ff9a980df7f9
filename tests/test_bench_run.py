"""bench/run's summary, made from the real output of a cheap real bench (bench/cli_startup.py --quick)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench._summary import COLUMNS, BenchRun, results_in, rows, table

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cli_startup_output() -> str:
    done = subprocess.run(
        [sys.executable, "bench/cli_startup.py", "--quick", "--runs", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


def test_a_real_bench_reports_its_row_with_a_floor(cli_startup_output: str) -> None:
    [result] = results_in(cli_startup_output)
    assert result.path == "dockhand --help"
    assert result.unit == "ms"
    assert result.figure is not None and result.figure > 0
    assert result.floor is not None and 0 < result.floor < result.figure  # the floor is measured in the same run
    assert result.ok is (result.figure < 500)


def test_the_summary_table_of_a_real_bench(cli_startup_output: str) -> None:
    [result] = results_in(cli_startup_output)
    assert result.figure is not None and result.floor is not None
    lines = table([BenchRun(name="cli_startup.py", exit_code=0, output=cli_startup_output)]).splitlines()
    header, separator, line = lines
    assert [cell.strip() for cell in header.strip("|").split("|")] == list(COLUMNS)
    assert set(separator) == {"|", "-"}
    cells = [cell.strip() for cell in line.strip("|").split("|")]
    assert cells[0] == "dockhand --help"
    assert cells[1] == f"{result.figure:.3g} ms"
    assert cells[2] == f"{result.floor:.3g} ms"
    assert cells[3] == f"{result.figure / result.floor:.2f}x"
    assert cells[4] == "< 500 ms"
    assert cells[5].startswith("yes" if result.ok else "no")


def test_a_bench_that_failed_gets_a_row_saying_so(cli_startup_output: str) -> None:
    crashed = rows([BenchRun(name="cli_startup.py", exit_code=1, output=cli_startup_output)])
    assert crashed[-1][0] == "bench/cli_startup.py"
    assert crashed[-1][-1] == "bench failed (exit status 1)"
    hung = rows([BenchRun(name="cli_startup.py", exit_code=None, output="")])
    assert hung == [("bench/cli_startup.py", "-", "-", "-", "-", "bench failed (did not end in time)")]


def test_bench_run_picks_up_the_benches_and_prints_one_table() -> None:
    done = subprocess.run(
        [str(ROOT / "bench" / "run"), "--only", "cli_startup"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    summary = done.stdout.split("## bench/run summary", 1)[1]
    assert "| dockhand --help " in summary
    assert "| path " in summary and "| within goal" in summary

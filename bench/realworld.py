"""Benchmark: dockhand's test pipeline on real open-source projects, against their recorded ground truth.

    .venv/bin/python bench/realworld.py [--only NAME ...] [--fast] [--keep DIR] [--log-dir DIR] [--quick]

Each project of tests/realworld/corpus.toml (PyPI sdists, Debian Go and Rust source packages, npm
tarballs, pinned by sha256) is unpacked into a plain folder and run with
`dockhand run test <dir> --json --force`. Its counts must equal what the project's own documented
command printed (README.md there says how that was recorded); its coverage must match as the
project's coverage tool rounds it, where the project measures coverage at all. Prints one line per
project and then `K/N exact`, and reports it as one row (goal: every project exact). Always exits 0: this is
a measurement, not a gate (tests/test_realworld.py is the gate, on the fast subset). --quick runs one small
project (xxhash, `go test`, no dependencies to install).

Needs Docker and the registries (installs run in the sandbox); without Docker or the sandbox image it says so
and reports its row as skipped, and a project whose archive is neither cached nor downloadable is skipped and
named. Where a TLS-intercepting proxy is in the way, the sandbox image must trust the host's CA bundle:
DOCKHAND_SANDBOX_CA_BUNDLE defaults to /etc/ssl/certs/ca-certificates.crt here, as scripts/setup does. dockhand's
own state (its store and dependency cache) goes to ~/.cache/dockhand/realworld/state unless DOCKHAND_DATA_DIR is
set.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._docker import docker_missing
from bench._stats import BenchResult, parse_with_quick, report
from tests.realworld.corpus import CorpusError, Project, archive, load, unpack
from tests.realworld.measure import judge, run_dockhand

PATH = "real projects: counts equal their own command's"
QUICK_PROJECT = "xxhash"


@dataclass(frozen=True, kw_only=True)
class Outcome:
    project: Project
    verdict: str  # exact | mismatch | error
    detail: str
    seconds: float
    measured: dict[str, Any] | None = None


def measure(project: Project, keep: Path | None, log_dir: Path | None) -> Outcome:
    started = time.monotonic()
    log = log_dir / f"{project.name}.log" if log_dir else None
    try:
        if keep is not None:
            folder = unpack(project, keep / project.name)
            verdict, detail, measured = judge(project, run_dockhand(folder, log))
        else:
            with tempfile.TemporaryDirectory(prefix="dockhand-realworld-") as tmp:
                folder = unpack(project, Path(tmp))
                verdict, detail, measured = judge(project, run_dockhand(folder, log))
    except (CorpusError, subprocess.SubprocessError, OSError) as exc:
        verdict, detail, measured = "error", str(exc), None
    seconds = time.monotonic() - started
    return Outcome(project=project, verdict=verdict, detail=detail, seconds=seconds, measured=measured)


def line(outcome: Outcome) -> str:
    p = outcome.project
    counts = ""
    if outcome.measured is not None:
        m = outcome.measured
        cov = m.get("coverage_percent")
        counts = f"{m['passed']}/{m['failed']}/{m['skipped']}/{m['errors']}"
        counts += f" cov {cov:.1f}%" if cov is not None else ""
    return f"{outcome.verdict:<8} {p.name:<22} {p.kind:<6} {outcome.seconds:6.0f}s  {counts:<24} {outcome.detail}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="just this project (repeatable)")
    parser.add_argument("--fast", action="store_true", help="just the projects marked fast = true")
    parser.add_argument("--keep", type=Path, help="unpack under this folder and keep it, to look at afterwards")
    parser.add_argument("--log-dir", type=Path, help="write each dockhand run's progress output here")
    args = parse_with_quick(parser, only=[QUICK_PROJECT])
    projects = load()
    unknown = set(args.only) - {p.name for p in projects}
    if unknown:
        sys.exit(f"not in the corpus: {', '.join(sorted(unknown))}")
    chosen = [p for p in projects if (not args.only or p.name in args.only) and (not args.fast or p.fast)]
    missing = docker_missing()
    if missing:
        print(missing)
        report(BenchResult(path=PATH, figure=None, unit=f"of {len(chosen)}", note=missing[:80]))
        return
    unfetched = {}
    for project in chosen:
        try:
            archive(project)  # from the cache, or its registry: without network, this is where it fails
        except CorpusError as exc:
            print(f"skipped: {exc}", flush=True)
            unfetched[project.name] = str(exc)
    chosen = [p for p in chosen if p.name not in unfetched]
    if args.log_dir:
        args.log_dir.mkdir(parents=True, exist_ok=True)
    print("verdict  project                kind      time  pass/fail/skip/err        detail", flush=True)
    outcomes = []
    for project in chosen:
        outcomes.append(measure(project, args.keep, args.log_dir))
        print(line(outcomes[-1]), flush=True)
    exact = sum(o.verdict == "exact" for o in outcomes)
    print(f"{exact}/{len(outcomes)} exact")
    report(row(outcomes, unfetched))


def row(outcomes: list[Outcome], unfetched: dict[str, str]) -> BenchResult:
    """K of N exact, the projects and their times in the note (and those skipped: no archive, no network)."""
    said = ", ".join(f"{o.project.name} {o.verdict} {o.seconds:.0f} s" for o in outcomes)
    if unfetched:
        said += f"; skipped, no archive and no download: {', '.join(unfetched)}"
    if not outcomes:
        return BenchResult(
            path=PATH,
            figure=None,
            unit="of 0",
            note=f"skipped: no archive and no download: {', '.join(unfetched)}"[:120],
        )
    exact, n = sum(o.verdict == "exact" for o in outcomes), len(outcomes)
    return BenchResult(path=PATH, figure=exact, unit=f"of {n}", goal=f"{n} of {n}", ok=exact == n, note=said[:120])


if __name__ == "__main__":
    main()

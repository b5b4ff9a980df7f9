"""Running dockhand on one unpacked corpus project and judging its summary against the ground truth.

Through the CLI (`dockhand run test <dir> --json --force`), as an operator would, so the bench and
tests/test_realworld.py measure exactly what a person running dockhand gets.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.realworld.corpus import CACHE, CorpusError, Project, differences

ROOT = Path(__file__).resolve().parents[2]
DOCKHAND = ROOT / ".venv" / "bin" / "dockhand"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
TIMEOUT_SECONDS = 1800


def dockhand_env() -> dict[str, str]:
    """dockhand's environment for the bench: its own state folder, and an image that trusts the host's CA."""
    env = dict(os.environ)
    env.setdefault("DOCKHAND_DATA_DIR", str(CACHE / "state"))
    if HOST_CA_BUNDLE.exists():
        env.setdefault("DOCKHAND_SANDBOX_CA_BUNDLE", str(HOST_CA_BUNDLE))
    return env


def run_dockhand(folder: Path, log: Path | None) -> dict[str, Any]:
    """`dockhand run test --json --force` on a folder: its JSON summary (progress to `log`, if given)."""
    done = subprocess.run(
        [str(DOCKHAND), "run", "test", str(folder), "--json", "--force"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        env=dockhand_env(),
        check=False,
    )
    if log is not None:
        log.write_text(done.stderr + "\n--- stdout ---\n" + done.stdout)
    try:
        return json.loads(done.stdout)
    except ValueError:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise CorpusError(f"dockhand exited {done.returncode} without a JSON result: {' | '.join(tail)}") from None


def judge(project: Project, summary: dict[str, Any]) -> tuple[str, str, dict[str, Any] | None]:
    """Exact, mismatch (and what differed) or error, from dockhand's summary of a one-project folder."""
    if project.truth is None:
        return "error", "no ground truth recorded in corpus.toml", None
    projects = [p for p in summary.get("projects", []) if p.get("root") == "."]
    if not projects:
        found = ", ".join(f"{p['language']} at {p['root']}" for p in summary.get("projects", [])) or "nothing"
        return "error", f"no project detected at the root (found {found}); {summary.get('error') or ''}".strip(), None
    measured = projects[0]
    extra = f" [{measured['framework']}, {measured['status']}]"
    if measured.get("status") == "error" and measured.get("error"):
        extra += f" error: {str(measured['error']).splitlines()[0][:200]}"
    wrong = differences(project.truth, measured)
    if len(projects) > 1:
        wrong.append(f"{len(projects)} projects detected at the root")
    return ("mismatch", "; ".join(wrong) + extra, measured) if wrong else ("exact", extra.strip(), measured)

"""What the agent is told of the repository it works in: its layout, projects, test commands, the baseline, and
the instruction files it carries (AGENTS.md and the like), read from the checkout on the host."""

from __future__ import annotations

from core.agent.prompt import INSTRUCTION_FILES, RepositoryContext
from core.pipelines.test_pipeline import TestRun
from core.sandboxing import ExecRequest

MAX_INSTRUCTIONS_BYTES = 64 * 1024


def repository_context(tests: TestRun, baseline: str) -> RepositoryContext:
    assert tests.tree is not None and tests.box is not None
    listing = tests.box.exec(
        ExecRequest(
            command="find . -maxdepth 2 -not -path './.git*' -not -path '*/node_modules*' "
            "-not -path '*/.venv*' | sort | head -300",
            timeout_seconds=60,
        )
    )
    instructions = {}
    root = tests.tree.path.resolve()
    for name in INSTRUCTION_FILES:
        path = tests.tree.path / name
        # Inside the checkout only: a symlinked file or folder must not make the host read elsewhere.
        if path.is_file() and path.resolve().is_relative_to(root):
            with path.open("rb") as handle:
                instructions[name] = handle.read(MAX_INSTRUCTIONS_BYTES).decode(errors="replace")
    return RepositoryContext(
        layout=listing.stdout,
        projects=tuple(f"{p.language.value} at {p.root} ({p.framework})" for p in tests.plans),
        test_commands=tuple(f"cd {p.workdir} && {p.test}" for p in tests.plans),
        baseline=baseline,
        instructions=instructions,
    )

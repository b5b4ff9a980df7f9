"""Input tokens billed per turn over a scripted 30-turn agent session, with and without prompt caching.

The real `Agent` loop and the real anthropic SDK talk to the scripted Messages API fake (which bills
like the real service: cache reads, cache writes and uncached input reported apart). The tools run
for real in a scratch directory on this host (the script only lists and prints files), so the
conversation grows as a real one does. Figures are tokens and list-price dollars, not time.

    .venv/bin/python bench/agent_caching.py [--turns 30] [--min-cacheable 1024] [--quick]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import anthropic

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._stats import BenchResult, parse_with_quick, report
from core.agent.loop import Agent, AgentStatus, ModelSettings
from core.agent.prompt import system_prompt
from core.agent.tools import SandboxTools
from core.agent.usage import Limits, Pricing, TokenUsage
from core.cancellation import CancelToken
from core.sandboxing import ExecRequest, ExecResult, OutputSink, SourceTree
from tests.support.fake_anthropic import FakeAnthropic, Reply, running_fake_anthropic, text, tool_use

COMMANDS = ["ls -la", "cat notes.txt", "seq 1 60", "wc -l notes.txt", "head -n 20 notes.txt"]


class ScratchBox:
    """Runs the scripted commands in a scratch directory: the bench's stand-in for a sandbox."""

    sandbox_id = "bench"

    def __init__(self, root: Path) -> None:
        self.root = root

    def exec(
        self, request: ExecRequest, *, output: OutputSink | None = None, cancelled: Callable[[], bool] | None = None
    ) -> ExecResult:
        done = subprocess.run(
            ["bash", "-c", request.command], cwd=self.root, capture_output=True, text=True, timeout=30, check=False
        )
        return ExecResult(exit_code=done.returncode, stdout=done.stdout, stderr=done.stderr, duration_seconds=0.0)

    def set_network(self, enabled: bool) -> None:
        pass

    def load_tree(self, tree: SourceTree, *, keep: Sequence[str] = ()) -> None:
        pass

    def read_file(self, path: str, *, max_bytes: int = 0) -> bytes:
        return (self.root / Path(path).name).read_bytes()

    def write_file(self, path: str, data: bytes, *, mode: int = 0o644) -> None:
        (self.root / Path(path).name).write_bytes(data)


def script(turns: int) -> list[Reply]:
    steps = [
        Reply([text(f"Step {i}: looking around."), tool_use("bash", {"command": COMMANDS[i % len(COMMANDS)]})])
        for i in range(turns - 1)
    ]
    return [*steps, Reply([tool_use("submit", {"title": "Done", "body": "All explored."})])]


def session(turns: int, caching: bool, min_cacheable: int, scratch: Path) -> list[TokenUsage]:
    fake = FakeAnthropic(script=list(script(turns)), min_cacheable_tokens=min_cacheable)
    with running_fake_anthropic(fake) as (_, url):
        client = anthropic.Anthropic(api_key="sk-ant-test", base_url=url, max_retries=0)
        agent = Agent(
            client,
            ModelSettings(
                model="claude-sonnet-5-5",
                limits=Limits(max_turns=turns + 5, budget_usd=None),
                caching=caching,
                streaming=True,
            ),
            SandboxTools(ScratchBox(scratch)),  # type: ignore[arg-type]
            system=system_prompt("dockhand") + "\n\n" + "Repository conventions follow. " * 150,
            log=lambda line: None,
            cancel=CancelToken(),
        )
        outcome = agent.start("Explore the repository and report.\n" + (scratch / "notes.txt").read_text())
        client.close()
    if outcome.status is not AgentStatus.SUBMITTED or fake.errors:
        raise SystemExit(f"the scripted session did not finish: {outcome} {fake.errors}")
    return agent.turn_usage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument("--min-cacheable", type=int, default=1024, help="Smallest cacheable prefix, in tokens.")
    args = parse_with_quick(parser, turns=10)
    pricing = Pricing()
    with tempfile.TemporaryDirectory(prefix="dockhand-bench-") as tmp:
        scratch = Path(tmp)
        (scratch / "notes.txt").write_text("".join(f"line {i}: some repository text\n" for i in range(120)))
        runs = {caching: session(args.turns, caching, args.min_cacheable, scratch) for caching in (False, True)}
    print(f"{'turn':>4} {'uncached: input':>16} | {'cached: input':>14} {'cache write':>12} {'cache read':>11}")
    for turn, (plain, cached) in enumerate(zip(runs[False], runs[True], strict=True), start=1):
        print(
            f"{turn:>4} {plain.input_tokens:>16} | {cached.input_tokens:>14} "
            f"{cached.cache_creation_input_tokens:>12} {cached.cache_read_input_tokens:>11}"
        )
    for caching, usages in runs.items():
        total = TokenUsage()
        for usage in usages:
            total.add(usage)
        billed = total.input_tokens + total.cache_creation_input_tokens + total.cache_read_input_tokens
        print(
            f"{'with' if caching else 'without'} caching: {billed} prompt tokens over {len(usages)} turns "
            f"({total.input_tokens} uncached, {total.cache_creation_input_tokens} written, "
            f"{total.cache_read_input_tokens} read), {total.output_tokens} output; "
            f"${pricing.cost(total):.4f} at list prices"
        )
    plain_cost = sum(pricing.cost(u) for u in runs[False])
    cached_cost = sum(pricing.cost(u) for u in runs[True])
    print(f"prompt caching saves {100 * (1 - cached_cost / plain_cost):.1f}% of the session's cost")
    report(
        BenchResult(
            path="agent session cost with prompt caching",
            figure=round(cached_cost, 4),
            unit="USD",
            floor=round(plain_cost, 4),  # not a floor but the baseline: the same session without caching
            goal="< 0.3x without caching",
            ok=cached_cost < 0.3 * plain_cost,
            note=f"{args.turns} turns; floor = without caching",
        )
    )


if __name__ == "__main__":
    main()

"""A Cargo package or workspace: libtest's output."""

from __future__ import annotations

from dataclasses import replace

from core.testrun.plan import WORKSPACE, Language, ProjectPlan, ResultFormat


def rust_plan(rel: str) -> ProjectPlan:
    plan = ProjectPlan(
        language=Language.RUST,
        root=rel,
        framework="cargo test",
        package_manager="cargo",
        install="cargo fetch",
        test="",
        results=ResultFormat.LIBTEST,
        results_path="",
        manifests=("Cargo.toml", "Cargo.lock"),
        cache_paths=(f"{WORKSPACE}/{rel}/target".replace("/./", "/"), "/home/sandbox/.cargo/registry"),
        save_cache_after_test=True,
    )
    out = f"{plan.reports_dir}/cargo-test.txt"
    return replace(
        plan, test=f"set -o pipefail; cargo test --workspace --no-fail-fast 2>&1 | tee {out}", results_path=out
    )

"""Taking the agent's change out of its sandbox: committed there, then rebuilt on the host as one commit of the end
state with dockhand's identity, its diff made by the host's git, and scanned for secrets before anyone sees it."""

from __future__ import annotations

import hashlib
from typing import Any

from core.artifacts import BUNDLE_NAME, DIFF_NAME, change_name
from core.errors import DockhandError, StageFailedError
from core.pipeline import StageContext, artifact_store
from core.pipelines.change_stats import numstat
from core.pipelines.test_pipeline import TestRun, sandbox_provider
from core.redaction import Redactor
from core.sandboxing import ExecRequest
from core.secret_scan import scan_diff, scan_text
from core.testrun.detect import WORKSPACE

MAX_BUNDLE_BYTES = 100 * 1024 * 1024


def take_change(ctx: StageContext, tests: TestRun, draft: dict[str, Any], attempt: int | None = None) -> dict[str, Any]:
    """The change in `tests`' sandbox as a bundle and diff in the artifact store (the task's, or one of its
    attempts'); its figures (files, lines, commit, the bundle's hash). Refused (nothing kept) when it is empty or
    looks like it holds a secret."""
    assert tests.box is not None and tests.tree is not None
    base = tests.tree.commit
    script = (
        "git add -A && (git diff --cached --quiet || git -c user.name=agent -c user.email=agent@sandbox "
        "commit --quiet --no-verify -m change) && "
        f'rm -f .git/{BUNDLE_NAME} && (test "$(git rev-parse HEAD)" = {base} || '
        f"git bundle create --quiet .git/{BUNDLE_NAME} HEAD ^{base})"
    )
    result = tests.box.exec(ExecRequest(command=script, timeout_seconds=300))
    if not result.ok:
        raise StageFailedError(f"could not commit the change: {result.stderr.strip()[-1000:]}")
    try:
        bundle = tests.box.read_file(f"{WORKSPACE}/.git/{BUNDLE_NAME}", max_bytes=MAX_BUNDLE_BYTES)
    except DockhandError as exc:
        if "no such file" in str(exc):
            raise StageFailedError("the agent submitted no change to the repository") from None
        raise StageFailedError(f"could not take the change out of the sandbox: {exc}") from None
    try:
        change = sandbox_provider(ctx).squash_change(
            tests.tree, bundle, message=draft["title"], author=(ctx.settings.bot_name, "dockhand@localhost")
        )
    except DockhandError as exc:
        raise StageFailedError(f"the sandbox's change was refused: {exc}") from None
    if not change.diff.strip():
        raise StageFailedError("the agent's commits add up to no change")
    known = Redactor.from_settings(ctx.settings).known
    findings = [str(f) for f in scan_diff(change.diff, known)]
    texts = "\n".join([draft["title"], draft["body"], *draft.get("replies", {}).values()])
    findings += [f"pull request text: {kind}" for kind in scan_text(texts, known)]
    if findings:
        raise StageFailedError(
            "the change contains what looks like a secret; nothing was published: " + "; ".join(findings[:10])
        )
    stats = numstat(change.numstat)
    store = artifact_store(ctx)
    store.put(ctx.task.id, change_name(BUNDLE_NAME, attempt), change.bundle)
    store.put(ctx.task.id, change_name(DIFF_NAME, attempt), change.diff.encode())
    stats.update(
        commit=change.commit,
        bundle_sha256=hashlib.sha256(change.bundle).hexdigest(),
        touches_workflows=any(f["path"].startswith(".github/workflows/") for f in stats["changed"]),
    )
    return stats

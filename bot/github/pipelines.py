"""The GitHub pipelines (issue resolution, changes, PR review), registered when first needed.

Building them imports PyGithub, the model's SDK and the agent (a third of a second and more): a command
that never runs or submits such a task (`dockhand run test`, `dockhand tui`) does not pay for it.
"""

from __future__ import annotations

from core.service import Core
from core.states import TaskType

NEEDS_GITHUB_AND_MODEL = (TaskType.ISSUE_RESOLUTION, TaskType.CHANGE, TaskType.PR_REVIEW)


def defer_github_pipelines(core: Core) -> None:
    """Register the GitHub pipelines in `core` the first time one of their task types is asked for."""

    def load() -> None:
        from bot.github.forge import attach_github_pipelines

        attach_github_pipelines(core)

    core.registry.defer(NEEDS_GITHUB_AND_MODEL, load)

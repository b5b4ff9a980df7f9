"""The pipelines dockhand ships, registered by task type."""

from __future__ import annotations

from core.pipeline import PipelineRegistry
from core.pipelines import custom
from core.states import TaskType


def default_registry() -> PipelineRegistry:
    registry = PipelineRegistry()
    registry.register(TaskType.CUSTOM, custom.pipeline())

    def load_tests() -> None:
        # Detection, the report parsers and snapshots: imported by a process that runs or submits a test run,
        # not by one that only shows tasks (`dockhand tui`).
        from core.pipelines import test_pipeline

        registry.register(TaskType.TEST_PIPELINE, test_pipeline.pipeline())

    registry.defer([TaskType.TEST_PIPELINE], load_tests)
    return registry

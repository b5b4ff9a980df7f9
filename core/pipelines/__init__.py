"""The pipelines dockhand ships, registered by task type."""

from __future__ import annotations

from core.pipeline import PipelineRegistry
from core.pipelines import custom, test_pipeline
from core.states import TaskType


def default_registry() -> PipelineRegistry:
    registry = PipelineRegistry()
    registry.register(TaskType.CUSTOM, custom.pipeline())
    registry.register(TaskType.TEST_PIPELINE, test_pipeline.pipeline())
    return registry

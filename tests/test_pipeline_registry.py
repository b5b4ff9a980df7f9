"""Pipelines registered on first use: every thread asking at once gets the pipeline, none a refusal."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from core.pipeline import Pipeline, PipelineRegistry
from core.states import TaskType


def test_threads_asking_while_a_deferred_pipeline_loads_all_get_it() -> None:
    registry = PipelineRegistry()
    pipeline = Pipeline(name="test-pipeline", stages=())
    loads: list[int] = []

    def load() -> None:  # as importing a pipeline's modules: long enough for others to ask meanwhile
        loads.append(threading.get_ident())
        time.sleep(0.3)
        registry.register(TaskType.TEST_PIPELINE, pipeline)

    registry.defer([TaskType.TEST_PIPELINE], load)
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: registry.get(TaskType.TEST_PIPELINE), range(8)))
    assert got == [pipeline] * 8 and len(loads) == 1

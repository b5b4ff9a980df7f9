"""Prometheus metrics of one dockhand process (GET /metrics)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from core.states import TaskStatus

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.tasks_submitted = Counter(
            "dockhand_tasks_submitted_total", "Tasks submitted", ["type", "source"], registry=self.registry
        )
        self.tasks_finished = Counter(
            "dockhand_tasks_finished_total",
            "Task runs that ended, by outcome",
            ["type", "outcome"],
            registry=self.registry,
        )
        self.task_duration = Histogram(
            "dockhand_task_duration_seconds",
            "Time a task run took",
            ["type"],
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.claim_latency = Histogram(
            "dockhand_task_queue_wait_seconds",
            "Time from a task becoming runnable to its claim",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.http_requests = Counter(
            "dockhand_http_requests_total", "HTTP requests", ["route", "status"], registry=self.registry
        )
        self.http_latency = Histogram(
            "dockhand_http_request_seconds",
            "HTTP request latency",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )

    def add_gauges(self, collect: Callable[[], Iterable[Metric]]) -> None:
        """Register figures computed at scrape time (queue depth, sandboxes, cache hits…)."""
        self.registry.register(_CallbackCollector(collect))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _CallbackCollector(Collector):
    def __init__(self, collect: Callable[[], Iterable[Metric]]) -> None:
        self._collect = collect

    def collect(self) -> Iterable[Metric]:
        return self._collect()


def task_status_gauge(counts: dict[TaskStatus, int]) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily("dockhand_tasks", "Tasks in the store, by status", labels=["status"])
    for status, n in counts.items():
        gauge.add_metric([status.value], n)
    return gauge


@dataclass(frozen=True, kw_only=True)
class StateFigures:
    """Where the figures read at scrape time come from."""

    task_counts: Callable[[], dict[TaskStatus, int]]
    sandbox_count: Callable[[], int]
    dropped_events: Callable[[], Mapping[str, int]]  # by subscriber
    cache_lookups: Callable[[], Mapping[str, Mapping[str, int]]]  # by cache, by result


def state_gauges(figures: StateFigures) -> Iterable[Metric]:
    yield task_status_gauge(figures.task_counts())
    sandboxes = GaugeMetricFamily("dockhand_sandboxes", "Sandboxes dockhand knows of")
    sandboxes.add_metric([], figures.sandbox_count())
    yield sandboxes
    dropped = GaugeMetricFamily(
        "dockhand_event_subscriber_dropped", "Events a slow subscriber missed", labels=["subscriber"]
    )
    for name, n in figures.dropped_events().items():
        dropped.add_metric([name], n)
    yield dropped
    lookups = CounterMetricFamily("dockhand_cache_lookups", "Cache look-ups by result", labels=["cache", "result"])
    for cache, results in figures.cache_lookups().items():
        for result, n in results.items():
            lookups.add_metric([cache, result], n)
    yield lookups

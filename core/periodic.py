"""The periodic jobs a process runs: the fleet's — lease sweeps, retention, approval expiry, cron schedules — run by
the process that leads (one per database; on SQLite every process), and this machine's own — its dependency
caches, its idle sandboxes — run by every process."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from core.scheduler import Scheduler

SANDBOX_SWEEP_SECONDS = 5.0

if TYPE_CHECKING:
    from core.service import Core


def start_scheduler(core: Core) -> Scheduler:
    scheduler = Scheduler()
    settings = core.settings

    def led(fn: Callable[[], object]) -> Callable[[], object]:
        return lambda: fn() if core.fleet.leads() else None

    # Leases every second or so (a cheap read); this machine's sandboxes of attempts that are over less often (that
    # lists the Docker engine's containers).
    scheduler.every("lease-sweep", settings.sweep_interval_seconds, lambda: core.sweep(sandboxes=False))
    scheduler.every("sandbox-sweep", max(settings.sweep_interval_seconds, SANDBOX_SWEEP_SECONDS), core.sweep)
    scheduler.every("schedule-sync", 30, core.sync_schedules)  # every process keeps the jobs; the leader fires
    scheduler.every("prune-deliveries", 3600, led(core.deliveries.prune))
    if days := settings.artifact_retention_days:
        scheduler.every("prune-artifacts", 3600, led(lambda: core.artifacts.prune(timedelta(days=days))))
    scheduler.every("approval-expiry", 30, led(core.approvals.expire))
    scheduler.every("prune-workers", 3600, led(core.store.workers.prune))
    for cache in core.caches:
        scheduler.every(f"cache-expire-{cache.name}", 3600, cache.expire)
    if core.sandboxes is not None:
        backend, ttl = core.sandboxes, settings.sandbox_idle_ttl_seconds
        scheduler.every("sandbox-reap", min(60.0, ttl / 2), lambda: backend.reap_idle(ttl))
    scheduler.start()
    return scheduler

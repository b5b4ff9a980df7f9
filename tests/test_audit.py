"""The audit trail: triggers, decisions, cancellations and refusals, in the store, the API and the TUI."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from textual.widgets import DataTable

from bot.http.app import create_app
from core.errors import InvalidTransitionError, RateLimitedError
from core.service import Core
from core.specs import TaskSubmission
from core.states import TaskType, TriggerSource
from tests.support.server import serve_in_thread
from tests.test_tui import registry
from tui.app import DockhandTui
from tui.screens.audit import AuditScreen


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def audited(core_factory: Callable[..., Core]) -> tuple[Core, str]:
    core = core_factory(registry=registry(), submissions_per_minute=2)
    gated = core.submit(
        TaskSubmission(type=TaskType.TEST_PIPELINE, payload={}, trigger_source=TriggerSource.SLACK, triggered_by="U1")
    ).task.id
    core.run_now(gated)
    queued = core.submit(
        TaskSubmission(type=TaskType.CUSTOM, payload={"command": "true"}, trigger_source=TriggerSource.API)
    ).task.id
    with pytest.raises(RateLimitedError):
        core.submit(TaskSubmission(type=TaskType.CUSTOM, payload={"command": "true"}, trigger_source=TriggerSource.API))
    core.approve(gated, by="carol (TUI)", source="tui")
    with pytest.raises(InvalidTransitionError):
        core.reject(gated, by="dave (Slack U2)", source="slack")
    core.cancel(queued, by="erin", source="cli")
    return core, gated


def test_every_action_and_refusal_is_recorded(core_factory: Callable[..., Core]) -> None:
    core, gated = audited(core_factory)
    entries = [(e.actor, e.source, e.action, e.outcome) for e in reversed(core.audit.recent())]
    assert entries == [
        ("U1", "slack", "submit", "done"),
        ("", "api", "submit", "done"),
        ("", "api", "submit", "rate-limited"),
        ("carol (TUI)", "tui", "approve", "done"),
        ("dave (Slack U2)", "slack", "reject", "refused"),
        ("erin", "cli", "cancel", "done"),
    ]
    assert [e.action for e in core.audit.recent(task_id=gated)] == ["reject", "approve", "submit"]
    with serve_in_thread(create_app(core, api_token="t")) as base:
        answer = httpx.get(f"{base}/audit?limit=3", headers={"Authorization": "Bearer t"})
        assert httpx.get(f"{base}/audit").status_code == 401
    assert [e["action"] for e in answer.json()["entries"]] == ["cancel", "reject", "approve"]


@pytest.mark.anyio
async def test_the_tui_shows_the_audit_trail(core_factory: Callable[..., Core]) -> None:
    core, _ = audited(core_factory)
    app = DockhandTui(core, poll_seconds=60)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        await pilot.press("u")
        await pilot.pause()
        assert isinstance(app.screen, AuditScreen)
        table = app.screen.query_one(DataTable)
        assert table.row_count == 6
        assert str(table.get_row_at(0)[3]) == "cancel" and str(table.get_row_at(3)[5]) == "rate-limited"

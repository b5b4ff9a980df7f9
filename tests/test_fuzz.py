"""Hostile input to every route, over loopback, on every store: no answer is a 5xx, nothing crashes.

A seeded generator (bounded, a few hundred requests per route family) sends what an attacker or a
broken client would: wrong methods, odd paths and query values, bodies that are not JSON, JSON of the
wrong shapes, form bodies, bogus headers; signed with the real secrets as often as not, so what gets
past the signature checks is fuzzed too. Afterwards the service still answers, a well-formed request
still works, and every stored GitHub delivery is handled by the intake without an error.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator

import httpx
import pytest
from sqlmodel import select

from bot.github.events import HANDLED_EVENTS
from bot.github.intake import GitHubIntake, github_client_factory, rules_from
from bot.http.app import create_app
from bot.slack.app import SlackBot
from bot.slack.client import slack_client
from core.models import WebhookDelivery
from core.service import Core
from core.specs import TaskSubmission
from core.states import TaskType
from tests.support.fake_github import FakeGitHub, running_fake_github
from tests.support.fake_slack import running_fake_slack
from tests.support.fuzz import GITHUB_SECRET, SLACK_SECRET, TOKEN, Fuzzer
from tests.support.server import serve_in_thread
from tests.support.store import database

REQUESTS_PER_FAMILY = 500


@pytest.fixture
def service(core_factory: Callable[..., Core]) -> Iterator[tuple[Core, httpx.Client, GitHubIntake, FakeGitHub]]:
    fake = FakeGitHub()
    fake.add_repo("Codertocat/Hello-World", default_branch="master")
    with running_fake_github(fake) as (fake, github_url), running_fake_slack() as (slack, slack_url):
        core = core_factory(
            github_webhook_secret=GITHUB_SECRET,
            github_token="ghp_fuzz",
            github_api_url=github_url,
            slack_bot_token="xoxb-test",
            slack_signing_secret=SLACK_SECRET,
            slack_api_url=f"{slack_url}/api/",
            slack_default_owner="acme",
        )
        bot = SlackBot(core, slack_client(core.settings))
        bot.subscribe()
        intake = GitHubIntake(core, github_client_factory(core.settings), rules_from(core.settings))
        app = create_app(core, api_token=TOKEN, slack=bot)
        with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=30) as http:
            yield core, http, intake, fake
        assert slack.errors == []
    assert fake.contract_errors == []


def test_hostile_requests_to_every_route_never_get_a_5xx(
    service: tuple[Core, httpx.Client, GitHubIntake, FakeGitHub],
) -> None:
    core, http, intake, _ = service
    task = core.submit(TaskSubmission(type=TaskType.CUSTOM, payload={"command": "true"})).task
    fuzzer = Fuzzer(random.Random(20261206), http, task.id, [])
    for family in (fuzzer.admin, fuzzer.github, fuzzer.slack):
        for _ in range(REQUESTS_PER_FAMILY):
            family()

    server_errors = [answer for answer in fuzzer.answers if answer[0] >= 500 or answer[0] == 0]
    assert server_errors == [], server_errors[:10]
    statuses = Counter(status for status, _ in fuzzer.answers)
    print("answers by status:", dict(sorted(statuses.items())))
    assert statuses[200] + statuses[202] > 100 and statuses[400] > 100, f"the fuzz reached past the checks: {statuses}"

    # Still alive and still working.
    assert http.get("/healthz").status_code == 200
    listed = http.get("/tasks", headers={"Authorization": f"Bearer {TOKEN}"})
    assert listed.status_code == 200 and task.id in listed.text
    # Every stored delivery is handled: ignored or turned into work, never an error.
    while intake.process_pending():
        pass
    with database(core).read() as session:
        rows = session.exec(select(WebhookDelivery)).all()
        outcomes = [row.outcome or "" for row in rows if row.event in HANDLED_EVENTS]
    print("delivery outcomes:", Counter(o.split(":")[0] for o in outcomes))
    assert outcomes and not [o for o in outcomes if not o or o.startswith("error")], outcomes

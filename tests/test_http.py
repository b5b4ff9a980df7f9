"""The HTTP service over real loopback HTTP: auth, validation, routes, webhooks, metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from bot.github.signature import sign
from bot.http.app import create_app
from core.models import WebhookDelivery
from core.service import Core
from tests.conftest import FIXTURES
from tests.support.server import serve_in_thread
from tests.support.store import database
from tests.support.waiting import wait_for

TOKEN = "test-admin-token-123"
WEBHOOK_SECRET = "webhook-secret-xyz"
PING = (FIXTURES / "github-webhooks" / "ping" / "payload.json").read_bytes()
ISSUE_OPENED = (FIXTURES / "github-webhooks" / "issues" / "opened.payload.json").read_bytes()


@pytest.fixture
def core(core_factory) -> Core:  # type: ignore[no-untyped-def]
    return core_factory(
        github_webhook_secret=WEBHOOK_SECRET, anthropic_api_key="sk-ant-never-shown", max_request_bytes=4096
    )


@pytest.fixture
def client(core: Core) -> Iterator[httpx.Client]:
    app = create_app(core, api_token=TOKEN, lifespan_hooks=(lambda: core.start(workers=1), lambda: None))
    with serve_in_thread(app) as base_url, httpx.Client(base_url=base_url, timeout=10) as http:
        yield http


def admin(
    http: httpx.Client, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: object
) -> httpx.Response:
    headers = {**(headers or {}), "Authorization": f"Bearer {TOKEN}"}
    return http.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]


ADMIN_ROUTES = [
    ("GET", "/status"),
    ("GET", "/tasks"),
    ("GET", "/task/abc"),
    ("GET", "/task/abc/logs"),
    ("POST", "/task/abc/cancel"),
    ("POST", "/api/submit"),
    ("GET", "/sandbox/list"),
    ("POST", "/sandbox/x/destroy"),
    ("POST", "/session/clear"),
]


def test_admin_routes_need_the_token(client: httpx.Client) -> None:
    for auth in (None, "Bearer wrong-token", "Basic dXNlcjpwYXNz", "Bearer", f"bearer{TOKEN}"):
        for method, path in ADMIN_ROUTES:
            headers = {"Authorization": auth} if auth is not None else {}
            response = client.request(method, path, headers=headers)
            assert response.status_code == 401, (auth, path)
            assert response.json()["error"] and response.headers["www-authenticate"].startswith("Bearer")


def test_submit_then_follow_a_task_to_completion(client: httpx.Client) -> None:
    response = admin(
        client,
        "POST",
        "/api/submit",
        json={"type": "custom", "payload": {"command": "echo via-api"}, "priority": "high", "repository": "acme/api"},
    )
    assert response.status_code == 201, response.text
    task = response.json()["task"]
    assert task["status"] == "pending" and task["priority"] == "high" and task["trigger"]["source"] == "api"
    detail = wait_for(
        lambda: (d := admin(client, "GET", f"/task/{task['id']}").json())["status"] == "succeeded" and d,
        what="the task to succeed",
    )
    assert [s["name"] for s in detail["stages"]] == ["run"]
    assert [e["kind"] for e in detail["events"]][-1] == "finished"
    logs = admin(client, "GET", f"/task/{task['id']}/logs").json()["lines"]
    assert "via-api" in [line["line"] for line in logs]
    after = logs[-2]["id"]
    assert admin(client, "GET", f"/task/{task['id']}/logs", params={"after": after}).json()["lines"] == logs[-1:]
    listed = admin(client, "GET", "/tasks", params={"status": "succeeded", "type": "custom"}).json()["tasks"]
    assert task["id"] in [t["id"] for t in listed]


def test_duplicate_dedup_key_returns_the_first_task(client: httpx.Client) -> None:
    body = {"type": "custom", "payload": {"command": "true"}, "dedup_key": "k1"}
    first, second = admin(client, "POST", "/api/submit", json=body), admin(client, "POST", "/api/submit", json=body)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["task"]["id"] == second.json()["task"]["id"] and second.json()["created"] is False


@pytest.mark.parametrize(
    "body,status,fragment",
    [
        (b"{not json", 400, "not valid JSON"),
        (b"", 400, "empty"),
        (b"[1, 2]", 400, "JSON object"),
        (b'{"type": "nonsense"}', 422, "type"),
        (b'{"type": "custom"}', 422, "command"),
        (b'{"type": "custom", "payload": {"command": "x"}, "priority": "asap"}', 422, "priority"),
        (b'{"type": "custom", "payload": {"command": "x"}, "repository": "not a repo"}', 422, "repository"),
        (b'{"type": "custom", "payload": {"command": "x"}, "surprise": 1}', 422, "surprise"),
        (b'{"type": "custom", "payload": {"command": "x"}, "trigger_source": "github"}', 422, "trigger_source"),
        (b'{"type": "custom", "payload": {"command": "x"}, "run_after": "2030-01-01T00:00:00"}', 422, "zone"),
        (b'{"type": "pr-review", "payload": {"pr_number": 3}, "repository": "a/b"}', 422, "no pipeline"),
        (b'{"type": "custom", "payload": {"command": "' + b"x" * 5000 + b'"}}', 413, "larger"),
    ],
)
def test_bad_submissions_get_a_4xx_with_a_message(
    client: httpx.Client, body: bytes, status: int, fragment: str
) -> None:
    response = admin(client, "POST", "/api/submit", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]


def test_unknown_things_are_404_and_wrong_methods_405(client: httpx.Client) -> None:
    assert admin(client, "GET", "/task/doesnotexist").status_code == 404
    assert admin(client, "GET", "/task/doesnotexist/logs").status_code == 404
    assert admin(client, "POST", "/task/doesnotexist/cancel").status_code == 404
    assert admin(client, "POST", "/sandbox/nope/destroy").status_code == 404
    assert client.get("/no/such/route").status_code == 404
    assert client.delete("/status").json() == {"error": "Method Not Allowed"}
    bad = admin(client, "GET", "/tasks", params={"status": "weird"})
    assert bad.status_code == 400 and "weird" in bad.json()["error"]
    assert admin(client, "GET", "/tasks", params={"limit": "-3"}).status_code == 400


def test_cancel_through_the_api(client: httpx.Client, core: Core) -> None:
    response = admin(
        client,
        "POST",
        "/api/submit",
        json={"type": "custom", "payload": {"command": "sleep 60"}, "run_after": "2099-01-01T00:00:00Z"},
    )
    task_id = response.json()["task"]["id"]
    cancelled = admin(client, "POST", f"/task/{task_id}/cancel")
    assert cancelled.status_code == 202 and cancelled.json()["status"] == "cancelled"
    again = admin(client, "POST", f"/task/{task_id}/cancel")
    assert again.status_code == 409 and "already cancelled" in again.json()["error"]


def test_status_shows_which_credentials_are_set_but_never_their_values(client: httpx.Client) -> None:
    response = admin(client, "GET", "/status")
    body = response.json()
    assert body["credentials"]["anthropic_api_key"] is True and body["credentials"]["github_token"] is False
    assert "sk-ant-never-shown" not in response.text and WEBHOOK_SECRET not in response.text
    assert {"tasks", "queue_depth", "active", "sandboxes", "workers"} <= set(body)


def test_sandbox_and_session_routes_answer(client: httpx.Client) -> None:
    assert admin(client, "GET", "/sandbox/list").json() == {"sandboxes": []}
    assert admin(client, "POST", "/session/clear").json() == {"cleared": {}}


def test_health_and_metrics_are_open(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    admin(client, "POST", "/api/submit", json={"type": "custom", "payload": {"command": "true"}})
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert 'dockhand_tasks_submitted_total{source="api",type="custom"} 1.0' in metrics.text
    assert 'dockhand_http_requests_total{route="/api/submit",status="201"} 1.0' in metrics.text
    assert "dockhand_tasks{status=" in metrics.text


def _github(
    client: httpx.Client, body: bytes, event: str, *, signature: str | None = None, delivery: str = "d-1"
) -> httpx.Response:
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-GitHub-Hook-ID": "42",
        "Content-Type": "application/json",
        "X-Hub-Signature-256": signature if signature is not None else sign(body, WEBHOOK_SECRET),
    }
    return client.post("/webhook/github", content=body, headers=headers)


def test_github_ping_is_verified_and_creates_nothing(client: httpx.Client, core: Core) -> None:
    response = _github(client, PING, "ping")
    assert response.status_code == 200 and response.json()["status"] == "pong"
    assert core.queue.counts_by_status() == dict.fromkeys(core.queue.counts_by_status(), 0)


@pytest.mark.parametrize("signature", ["", "sha1=abc", "sha256=" + "0" * 64, "sha256=zz", "garbage"])
def test_github_bad_signatures_are_401(client: httpx.Client, signature: str) -> None:
    response = _github(client, ISSUE_OPENED, "issues", signature=signature)
    assert response.status_code == 401 and "X-Hub-Signature-256" in response.json()["error"]


def test_github_signature_is_over_the_raw_body(client: httpx.Client) -> None:
    reformatted = json.dumps(json.loads(ISSUE_OPENED)).encode()
    response = _github(client, reformatted, "issues", signature=sign(ISSUE_OPENED, WEBHOOK_SECRET))
    assert response.status_code == 401


def test_github_redelivery_is_recognised(client: httpx.Client) -> None:
    first = _github(client, ISSUE_OPENED, "issues", delivery="abc-1")
    second = _github(client, ISSUE_OPENED, "issues", delivery="abc-1")
    assert first.status_code == 202 and second.json()["status"] == "duplicate"


def test_github_oversized_and_malformed_bodies_are_4xx(client: httpx.Client) -> None:
    huge = b"x" * (25 * 1024 * 1024 + 1)
    assert client.post("/webhook/github", content=huge, headers={"X-GitHub-Event": "push"}).status_code == 401
    signed_looking = {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + "0" * 64}
    assert client.post("/webhook/github", content=huge, headers=signed_looking).status_code == 413
    out_of_range = b'{"zen": 1e999}'
    assert _github(client, out_of_range, "issues").status_code == 400  # not stored as Infinity
    garbage = b"not json at all"
    assert _github(client, garbage, "issues").status_code == 400
    no_event = client.post("/webhook/github", content=PING, headers={"X-Hub-Signature-256": sign(PING, WEBHOOK_SECRET)})
    assert no_event.status_code == 400


def test_github_form_encoded_deliveries_are_accepted(client: httpx.Client, core: Core) -> None:
    """Repository webhooks default to `application/x-www-form-urlencoded` with the JSON in `payload`; the
    signature is over the raw form body."""
    from urllib.parse import urlencode

    body = urlencode({"payload": ISSUE_OPENED.decode()}).encode()
    headers = {
        "X-GitHub-Event": "issues", "X-GitHub-Delivery": "form-1", "X-GitHub-Hook-ID": "42",
        "Content-Type": "application/x-www-form-urlencoded", "X-Hub-Signature-256": sign(body, WEBHOOK_SECRET),
    }  # fmt: skip
    answer = client.post("/webhook/github", content=body, headers=headers)
    assert answer.status_code == 202 and answer.json()["status"] == "queued", answer.text
    with database(core).read() as session:
        [stored] = session.exec(select(WebhookDelivery).where(WebhookDelivery.delivery_id == "form-1")).all()
    assert stored.payload is not None and stored.payload["action"] == "opened"
    broken = b"payload=%7Bnot-json&payload=again"
    headers |= {"X-GitHub-Delivery": "form-2", "X-Hub-Signature-256": sign(broken, WEBHOOK_SECRET)}
    assert client.post("/webhook/github", content=broken, headers=headers).status_code == 400


def test_an_unsigned_delivery_is_refused_before_its_body_is_read(client: httpx.Client) -> None:
    """Only the headers are sent, announcing 20 MB: the answer comes at once, without waiting for the body."""
    import socket
    from urllib.parse import urlparse

    url = urlparse(str(client.base_url))
    with socket.create_connection((url.hostname, url.port), timeout=5) as raw:
        raw.sendall(
            b"POST /webhook/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\n"
            b"Content-Type: application/json\r\nContent-Length: 20000000\r\n\r\n"
        )
        answer = raw.recv(4096)  # a server that read the body first would time out here
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]


def test_a_request_whose_headers_trickle_in_is_closed_after_the_deadline(core: Core) -> None:
    import socket
    import time
    from urllib.parse import urlparse

    app = create_app(core, api_token=TOKEN)
    with serve_in_thread(app, header_timeout_seconds=1.0) as base_url:
        url = urlparse(base_url)
        with socket.create_connection((url.hostname, url.port), timeout=10) as raw:
            started = time.monotonic()
            raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            answer = b""
            for n in range(30):  # a header line every 0.2 s, never the blank line that ends them
                try:
                    raw.sendall(f"X-Slow-{n}: y\r\n".encode())
                except OSError:
                    break
                time.sleep(0.2)
            raw.settimeout(5)
            try:
                answer = raw.recv(4096)
            except OSError:
                answer = b""
            held = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert held < 3, f"held open {held:.1f}s"
        # A request that sends its headers at once, and a second one on the same connection, are answered.
        with httpx.Client(base_url=base_url) as http:
            assert http.get("/healthz").status_code == 200
            time.sleep(1.5)  # past the deadline: a kept-alive connection is not cut by it
            assert http.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    "path", ["/tasks?repository=acme%00x", "/task/ab%00cd", "/tasks?status=%00", "/task/x%00/approve"]
)
def test_a_nul_in_the_path_or_query_is_400_on_every_store(client: httpx.Client, path: str) -> None:
    method = "POST" if path.endswith("/approve") else "GET"
    response = admin(client, method, path)
    assert response.status_code == 400 and "NUL" in response.text, (path, response.status_code)


def test_an_unexpected_error_is_a_500_logged_once(
    client: httpx.Client, core: Core, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> None:
        raise RuntimeError("the store fell over")

    monkeypatch.setattr(core, "status", broken)
    response = admin(client, "GET", "/status")
    assert response.status_code == 500 and response.json() == {"error": "internal error"}
    assert "fell over" not in response.text  # the cause is for the log, not for the caller
    logged = [r for r in caplog.records if r.exc_info and "fell over" in str(r.exc_info[1])]
    assert len(logged) == 1, [(r.name, r.getMessage()) for r in logged]
    assert admin(client, "GET", "/healthz").status_code == 200  # and the service goes on


def test_github_webhook_is_off_without_a_secret(core_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    plain = core_factory()
    with serve_in_thread(create_app(plain, api_token=TOKEN)) as base_url:
        response = httpx.post(f"{base_url}/webhook/github", content=PING, headers={"X-GitHub-Event": "ping"})
    assert response.status_code == 404 and "GITHUB_WEBHOOK_SECRET" in response.json()["error"]


@pytest.mark.parametrize(
    "query",
    ["limit=%C2%B2", "limit=" + "9" * 5000, "limit=1e3", "status=succeeded&limit=-0"],
)
def test_odd_query_numbers_are_400(client: httpx.Client, query: str) -> None:
    response = admin(client, "GET", f"/tasks?{query}")
    assert response.status_code == 400, response.text


@pytest.mark.parametrize(
    "body,status",
    [
        (b"[" * 100_000 + b"]" * 100_000, 413),  # over the body cap
        (b"[" * 1500 + b"]" * 1500, 400),  # nested deeper than the JSON parser goes
        (b'{"type": "custom", "payload": {"command": "x"}, "run_after": "9999-12-31T23:59:59-23:59"}', 422),
        (b'{"type": "custom", "payload": {"command": "x"}, "dedup_key": "a\\u0000b"}', 422),
        (b'{"type": "custom", "payload": {"command": "a\\u0000b"}}', 422),
        (b'{"type": "custom", "payload": {"command": "x", "env": {"DOCKHAND_TASK_ID": "1"}}}', 422),
    ],
)
def test_hostile_json_is_a_4xx(client: httpx.Client, body: bytes, status: int) -> None:
    response = admin(client, "POST", "/api/submit", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert response.json()["error"]


def test_environment_values_are_not_shown_back(client: httpx.Client) -> None:
    body = {"type": "custom", "payload": {"command": "true", "env": {"API_KEY": "hunter2"}}}
    response = admin(client, "POST", "/api/submit", json=body)
    assert response.json()["task"]["payload"]["env"] == {"API_KEY": "***"}
    assert "hunter2" not in admin(client, "GET", f"/task/{response.json()['task']['id']}").text


@pytest.mark.parametrize("body", [b'{"n": ' + b"9" * 5000 + b"}", b"[" * 100_000 + b"]" * 100_000])
def test_signed_but_hostile_webhook_json_is_400(client: httpx.Client, body: bytes) -> None:
    response = _github(client, body, "issues")
    assert response.status_code == 400, response.text
    assert "JSON" in response.json()["error"] or "deeply" in response.json()["error"]


EVERY_EXAMPLE = sorted((FIXTURES / "github-webhooks").glob("*/*.json"))


def test_every_github_example_is_accepted_signed_and_refused_unsigned(client: httpx.Client) -> None:
    for n, path in enumerate(EVERY_EXAMPLE):
        body, event = path.read_bytes(), path.parent.name
        good = _github(client, body, event, delivery=f"example-{n}")
        assert good.status_code in (200, 202), (path, good.text)
        bad = _github(client, body, event, signature="sha256=" + "0" * 64, delivery=f"bad-{n}")
        assert bad.status_code == 401, path

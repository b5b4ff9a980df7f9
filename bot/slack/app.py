"""The Slack app (Bolt): `/agent …` and @-mentions start and steer tasks; buttons decide on approvals.

Every request is acknowledged at once: Bolt answers Slack when a listener's ack function returns, in the
request's thread; the rest runs after the answer, as a lazy listener on a small executor (`after_ack.py`).
The signature and the timestamp (a 5-minute window) of each HTTP request are checked before any listener
runs. A task's dedup key is the Slack request it came from, so a retried delivery never makes a second
task; a click on a decided approval only says it was decided.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import replace
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import Clock, SignatureVerifier
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from bot.http.body import read_body
from bot.slack.access import SlackAccess
from bot.slack.after_ack import ack_only, after_ack_executor, logged
from bot.slack.buttons import Buttons
from bot.slack.client import slack_client
from bot.slack.commands import (
    USAGE,
    Cancel,
    ChannelRepo,
    Command,
    CommandError,
    Do,
    Help,
    Resolve,
    Review,
    Stop,
    Test,
    parse_command,
    trigger_of,
)
from bot.slack.messages import (
    APPROVE,
    FIX_CI,
    PICK_ATTEMPT_PATTERN,
    REJECT,
    VIEW_ATTEMPT_DIFF_PATTERN,
    VIEW_DIFF,
)
from bot.slack.payloads import SlackPayloadError, check_shape
from bot.slack.thread_context import permalink, thread_context
from bot.slack.threads import THREAD, SlackThreads, place
from bot.slack.verbs import Requester, answer, cancel, channel_repo, stop
from core.conversation import CONTINUED_TYPES, latest_step, leads_on
from core.errors import RateLimitedError, ValidationError
from core.intake.chain import Admission
from core.models import Task
from core.redaction import Redactor
from core.service import Core
from core.states import TriggerSource
from core.store.audit import AuditAction

log = logging.getLogger(__name__)

MAX_SLACK_BODY = 1024 * 1024
STARTED = "On it — progress follows in a thread."
SEEN_EVENTS = 2000


def _signed_headers(request: Request) -> bool:
    """Both signature headers there and well formed (a timestamp of digits, a v0= signature)."""
    timestamp = request.headers.get("x-slack-request-timestamp", "")
    signature = request.headers.get("x-slack-signature", "")
    return timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12 and signature.startswith("v0=")


class _Clock(Clock):
    """Whole seconds, as Slack's timestamps are: a request exactly 300 s old is still inside the window."""

    def now(self) -> float:
        return float(int(time.time()))


def already_on_it(core: Core, task: Task) -> str:
    """The answer to a second request for work a live task is doing: where to follow the first."""
    where = core.notifications.get(task.id, THREAD)
    channel = where.partition(":")[0] if where else None
    follow = f"; follow it in its thread in <#{channel}>" if channel else f" (from {task.trigger_source.value})"
    return f"Already on it: task {task.id} is {task.status.value.replace('_', ' ')}{follow}."


class SlackBot:
    """Slack's side of dockhand: the Bolt app, the access policy and the thread notifier, on one core."""

    def __init__(self, core: Core, client: WebClient) -> None:
        settings = core.settings
        self.core = core
        self.client = client
        self.access = SlackAccess(settings, self._group_members)
        self.redactor = Redactor.from_settings(settings)
        self.web_url = settings.github_git_url
        self.threads = SlackThreads(core, client, web_url=self.web_url, interval=settings.slack_update_seconds)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._seen_lock = threading.Lock()
        secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
        # Slack's window is five minutes: a request exactly 300 s old is still inside it.
        self.verifier = SignatureVerifier(secret, clock=_Clock()) if secret else None
        self.app = App(
            signing_secret=secret,
            client=client,
            token_verification_enabled=False,  # start without reaching Slack; auth.test runs on first use
            request_verification_enabled=False,  # verified in handle_http, before anything parses the body
            process_before_response=True,  # the ack function runs in the request's thread: no waiting for it
            listener_executor=after_ack_executor(),
        )
        self.app.command("/agent")(ack=self._ack_command, lazy=[logged(self._on_command)])
        self.app.event("app_mention")(ack=ack_only, lazy=[logged(self._on_mention)])
        self.buttons = Buttons(
            core, self.access, tell=self._tell, announce=self.announce, thread_of=self.threads.conversation_thread
        )
        for action, listener in (
            (APPROVE, self.buttons.on_decision),
            (REJECT, self.buttons.on_decision),
            (PICK_ATTEMPT_PATTERN, self.buttons.on_decision),
            (VIEW_DIFF, self.buttons.on_view_diff),
            (VIEW_ATTEMPT_DIFF_PATTERN, self.buttons.on_view_diff),
            (FIX_CI, self.buttons.on_fix_ci),
        ):
            self.app.action(action)(ack=ack_only, lazy=[logged(listener)])
        self.app.error(self._on_error)

    # --- entry points ---------------------------------------------------------------------------
    async def handle_http(self, request: Request) -> Response:
        """POST /slack/events: the signature and timestamp are checked here, before the body is parsed at all
        (anything unsigned is a 401, whatever it holds); then Bolt dispatches. A signed body that does not
        parse is a 400; Slack's Web API being down while a request is handled is one 503 and one log line."""
        if self.verifier is not None and not _signed_headers(request):
            return Response("missing or malformed Slack signature headers", status_code=401)
        body = await read_body(request, MAX_SLACK_BODY)  # refuses an oversized body before reading it all
        try:
            text: str | None = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None  # Slack signs UTF-8 text: no signature can be valid for these bytes
        if self.verifier is not None and (
            text is None
            or not self.verifier.is_valid(
                body=text,
                timestamp=request.headers["x-slack-request-timestamp"],
                signature=request.headers["x-slack-signature"],
            )
        ):
            return Response("invalid or expired Slack signature", status_code=401)
        try:
            if text is None:
                raise ValueError("not UTF-8")
            bolt_request = to_bolt_request(request, body)  # Bolt's own Starlette adapter
        except (UnicodeDecodeError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
            return Response("malformed Slack request", status_code=400)
        try:
            check_shape(bolt_request.body)
        except SlackPayloadError as exc:
            return Response(str(exc), status_code=400)
        try:
            response = await run_in_threadpool(self.app.dispatch, bolt_request)
        except Exception:  # a signed request Bolt cannot handle: it is the request's fault, not a crash
            log.warning("Slack: a signed request could not be handled", exc_info=True)
            return Response("malformed Slack request", status_code=400)
        if response.status >= 500:
            log.warning("Slack: could not handle a request (%s): is Slack's Web API reachable?", response.status)
            return Response("Slack's Web API is unreachable: try again", status_code=503)
        return to_starlette_response(response)

    def subscribe(self) -> None:
        self.core.bus.subscribe(self.threads, name="slack-threads", maxsize=10_000)

    # --- listeners ------------------------------------------------------------------------------
    def _ack_command(self, ack: Any, command: dict[str, Any]) -> None:
        """A malformed command or `help` is answered in the acknowledgement; anything else is acknowledged empty,
        before anything that may wait (a user-group lookup, the intake, Slack's Web API)."""
        try:
            parsed = self._parse(command.get("text", ""), command["channel_id"])
        except CommandError as exc:
            ack(response_type="ephemeral", text=str(exc))
            return
        if isinstance(parsed, Help):
            ack(response_type="ephemeral", text=USAGE)
        else:
            ack()

    def _on_command(self, command: dict[str, Any], respond: Any) -> None:
        """After the acknowledgement: do what the command asks; answers follow privately."""
        who = Requester(user=command["user_id"], channel=command["channel_id"], name=command.get("user_name", ""))
        try:
            parsed = self._parse(command.get("text", ""), who.channel)
        except CommandError:
            return  # answered in the acknowledgement
        if isinstance(parsed, Help):
            return
        dedup = f"slack:command:{command.get('trigger_id') or command['user_id']}"
        reply = self._handle(parsed, who, dedup=dedup) or STARTED
        respond(response_type="ephemeral", replace_original=False, text=self.redactor.text(reply))

    def _on_mention(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        event_id = str(body.get("event_id") or f"{event.get('channel')}:{event.get('ts')}")
        if self._already_seen(event_id):
            return  # Slack retried a delivery this process already handled
        if event.get("bot_id") or event.get("subtype") == "bot_message":
            return  # bots, dockhand included, never start or steer work
        who = Requester(user=event.get("user", ""), channel=event.get("channel", ""))
        asked = str(event.get("ts") or "")
        thread_ts = str(event.get("thread_ts") or "")
        earlier = self._task_of_thread(who.channel, thread_ts)
        try:
            parsed = self._parse(event.get("text", ""), who.channel, earlier.repository if earlier else None)
        except CommandError as exc:
            self._tell(who, str(exc))
            return
        if isinstance(parsed, Stop) and parsed.task_id is None and earlier is not None:
            parsed = Stop(task_id=earlier.id)  # `@dockhand stop` in a task's thread: that conversation
        if isinstance(parsed, Do) and earlier is not None and parsed.repository == earlier.repository:
            # A follow-up: it builds on the conversation's newest step (and waits for it while that works).
            parsed = (
                replace(parsed, continues=latest_step(self.core.queue, earlier).id) if leads_on(earlier) else parsed
            )
        reply = self._handle(parsed, who, dedup=f"slack:event:{event_id}", asked=(thread_ts, asked) if asked else None)
        if reply:
            self._tell(who, reply)

    def _on_error(self, error: Exception, body: dict[str, Any]) -> None:
        if isinstance(error, OSError | SlackApiError):  # Slack unreachable or refusing: `handle_http` says so once
            log.debug("Slack request failed: %s: %s", type(error).__name__, error)
        else:
            log.error("Slack request failed: %s: %s", type(error).__name__, error)

    # --- what commands do -----------------------------------------------------------------------
    def _handle(
        self, command: Command, who: Requester, *, dedup: str, asked: tuple[str, str] | None = None
    ) -> str | None:
        """Do what a command asks; what to answer (None: nothing, the task's own message speaks). `asked`:
        where a mention was made (the ts of its thread's parent, "" when not in a thread, and its own ts)."""
        if isinstance(command, Resolve | Review | Do | Test):
            thread: list[tuple[str, str]] = []
            link = None
            # The thread is read only for someone who may ask (the intake decides again, and audits).
            may_ask = self.access.may_run(command.verb, who.user, who.channel).allowed
            if asked is not None and isinstance(command, Do) and may_ask:
                parent, own = asked
                thread = thread_context(self.client, who.channel, parent, own) if parent else []
                link = permalink(self.client, who.channel, own)
            follow_up_in = asked[0] if asked and asked[0] and isinstance(command, Do) and command.continues else None
            return self._start(command, who, dedup=dedup, thread=thread, link=link, in_thread=follow_up_in)
        decision = self.access.may_run(command.verb, who.user, who.channel)
        if not decision.allowed:
            self.core.intake.refuse(
                source=TriggerSource.SLACK,
                actor=who.user,
                action=AuditAction.TRIGGER,
                target=command.verb.value,
                reason=decision.reason,
            )
            return f"Sorry, {decision.reason}."
        if isinstance(command, Cancel):
            return cancel(self.core, self.access, command, who)
        if isinstance(command, ChannelRepo):
            return channel_repo(self.core, self.access, command, who)
        if isinstance(command, Stop):
            return stop(self.core, self.access, command, who)
        return answer(self.core, self.access, command)

    def _parse(self, text: str, channel: str, thread_repository: str | None = None) -> Command:
        """In a task's thread, words that are no command are a follow-up on its repository; elsewhere, a change
        to the channel's repository (when it has one)."""
        owner = self.core.settings.slack_default_owner
        repository = thread_repository or self.core.channels.get(channel)
        return parse_command(text, default_owner=owner, channel_repository=repository)

    def _task_of_thread(self, channel: str, thread_ts: str) -> Task | None:
        """The resolution or change whose parent message starts this thread (None elsewhere)."""
        task_id = self.core.notifications.task_of(THREAD, place(channel, thread_ts)) if thread_ts else None
        task = self.core.find_task(task_id) if task_id else None
        # Only work that opens a pull request is continued: a test run's or a review's thread is not.
        return task if task is not None and task.type in CONTINUED_TYPES else None

    def _start(
        self,
        command: Resolve | Review | Do | Test,
        who: Requester,
        *,
        dedup: str,
        thread: list[tuple[str, str]],
        link: str | None,
        in_thread: str | None = None,
    ) -> str | None:
        """Start a task through the intake, with one parent message in the channel (a follow-up's: in its
        conversation's thread, `in_thread`); a short reply when there is news (a refusal, a limit, the live task
        already doing this)."""
        try:
            trigger = trigger_of(
                command, user=who.user, channel=who.channel, dedup_key=dedup, thread=thread, requested_in=link
            )
        except ValidationError as exc:
            target = (
                f"{command.repository}#{command.number}"
                if isinstance(command, Resolve | Review)
                else command.repository
            )
            self.core.intake.refuse(
                source=TriggerSource.SLACK, actor=who.user, action=AuditAction.SUBMIT, target=target, reason=str(exc)
            )
            return f"Not started: {exc}"
        outcome = self.core.intake.handle(trigger, self.access)
        match outcome.admission:
            case Admission.REFUSED:
                return f"Sorry, {outcome.reason}."
            case Admission.RATE_LIMITED:
                assert isinstance(outcome.error, RateLimitedError)
                return f"Not started: {outcome.error}. Try again in {outcome.error.when()}."
            case Admission.NOT_STARTED:
                return f"Not started: {outcome.reason}"
            case Admission.ALREADY_LIVE:
                assert outcome.task is not None
                return already_on_it(self.core, outcome.task)
            case Admission.DUPLICATE:
                return None  # a retried request: its task and message exist already
        assert outcome.task is not None
        return self.announce(outcome.task, who.channel, in_thread=in_thread)

    def announce(self, task: Task, channel: str, *, in_thread: str | None = None) -> str | None:
        """The task's one message (in a conversation's thread when `in_thread` is its ts); what to answer when it
        cannot be posted (the task is cancelled then: nobody here could follow or approve it)."""
        try:
            self.threads.post_task_message(task, channel, in_thread=in_thread)
        except (SlackApiError, OSError) as exc:
            response = getattr(exc, "response", None)
            error = response.get("error") if response else f"cannot reach Slack: {getattr(exc, 'reason', exc)}"
            self.core.cancel(task.id, by="Slack (no message could be posted)", source=TriggerSource.SLACK)
            return f"Not started: I cannot post in this channel ({error}). Invite me, then ask again."
        return None

    def _tell(self, who: Requester, text: str) -> None:
        try:
            self.client.chat_postEphemeral(channel=who.channel, user=who.user, text=text)
        except SlackApiError as exc:
            log.warning("Slack: could not answer %s: %s", who.user, exc.response.get("error") if exc.response else exc)
        except OSError as exc:
            log.warning("Slack: could not answer %s: cannot reach Slack: %s", who.user, getattr(exc, "reason", exc))

    def _group_members(self, group: str) -> set[str]:
        return set(self.client.usergroups_users_list(usergroup=group).get("users") or [])

    def _already_seen(self, key: str) -> bool:
        with self._seen_lock:
            if key in self._seen:
                return True
            self._seen[key] = None
            while len(self._seen) > SEEN_EVENTS:
                self._seen.popitem(last=False)
        return False


def attach_slack(core: Core) -> SlackBot | None:
    """Slack's part of a process, when a bot token is configured: the notifier (every process whose
    workers run tasks), and the app for `serve` to mount or connect."""
    if core.settings.slack_bot_token is None:
        return None
    bot = SlackBot(core, slack_client(core.settings))
    bot.subscribe()
    return bot


def connect_socket_mode(bot: SlackBot) -> Any:
    """Socket Mode (SLACK_APP_TOKEN): Slack's requests come over a websocket this process opens."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    token = bot.core.settings.slack_app_token
    assert token is not None
    handler = SocketModeHandler(bot.app, token.get_secret_value())
    handler.connect()
    return handler

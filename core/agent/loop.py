"""The agent loop: ask the model, run the tools it calls in the sandbox, repeat until it submits.

Each turn is one Messages API call (streamed, so a cancel stops it mid-answer), its usage is added up
and priced, and every limit — turns, wall time, tokens, dollars — is checked before the next call.
Prompt caching: the tools and system prompt are a stable prefix with a breakpoint; the conversation
gets a breakpoint on its last two user turns, so each call reads what the previous one wrote.
The SDK retries 408/409/429/5xx (529 included) with backoff that honours `retry-after`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from core.agent.tools import Submission, Toolbox, ToolResult, truncate
from core.agent.usage import Limits, Pricing, TokenUsage
from core.cancellation import CancelToken
from core.errors import TaskCancelledError
from core.model_provider import api_failure
from core.settings import Settings

if TYPE_CHECKING:
    from core.model_provider import ModelClient

NUDGES = 2
_CACHE = {"type": "ephemeral"}


class AgentStatus(StrEnum):
    SUBMITTED = "submitted"
    GAVE_UP = "gave-up"
    REFUSED = "refused"
    BUDGET_EXHAUSTED = "budget-exhausted"
    TURNS_EXHAUSTED = "turns-exhausted"
    TIME_EXHAUSTED = "time-exhausted"
    TOKENS_EXHAUSTED = "tokens-exhausted"
    API_ERROR = "api-error"


@dataclass(frozen=True, kw_only=True)
class AgentOutcome:
    status: AgentStatus
    detail: str = ""
    submission: Submission | None = None


@dataclass(frozen=True, kw_only=True)
class AgentProgress:
    turns: int
    usage: TokenUsage
    cost_usd: float


@dataclass(frozen=True, kw_only=True)
class ModelSettings:
    model: str
    limits: Limits
    pricing: Pricing = field(default_factory=Pricing)
    caching: bool = True
    streaming: bool = True

    @classmethod
    def from_settings(cls, settings: Settings, budget_usd: float | None) -> ModelSettings:
        """The model, limits and prices dockhand is configured with, and this task's dollar budget."""
        return cls(
            model=settings.agent_model,
            limits=Limits(
                max_turns=settings.agent_max_turns,
                max_seconds=settings.agent_max_seconds,
                max_tokens=settings.agent_max_tokens,
                budget_usd=budget_usd,
            ),
            pricing=Pricing.from_settings(settings),
            caching=settings.agent_prompt_caching,
            streaming=settings.agent_streaming,
        )


Logger = Callable[[str], None]


class Agent:
    """One agent conversation about one task; `start` it, and `resume` it with test failures."""

    def __init__(
        self,
        client: ModelClient,
        settings: ModelSettings,
        tools: Toolbox,
        *,
        system: str,
        log: Logger,
        cancel: CancelToken,
        on_progress: Callable[[AgentProgress], None] = lambda progress: None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.tools = tools
        self.system = system
        self.log = log
        self.cancel = cancel
        self.on_progress = on_progress
        self.messages: list[dict[str, Any]] = []
        self.usage = TokenUsage()
        self.turn_usage: list[TokenUsage] = []
        self.turns = 0
        self.started = time.monotonic()
        self._held_results: list[dict[str, Any]] = []
        self._submit_ids: list[str] = []

    @property
    def cost_usd(self) -> float:
        return self.settings.pricing.cost(self.usage)

    def start(self, message: str) -> AgentOutcome:
        self.messages.append({"role": "user", "content": [{"type": "text", "text": message}]})
        return self._loop()

    def resume(self, message: str) -> AgentOutcome:
        """Go on after a submit the checks did not accept: the submit call is answered with `message`."""
        content = list(self._held_results)
        content += [
            {"type": "tool_result", "tool_use_id": tool_id, "content": message, "is_error": True}
            for tool_id in self._submit_ids
        ]
        if not content:
            content = [{"type": "text", "text": message}]
        self._held_results, self._submit_ids = [], []
        self.messages.append({"role": "user", "content": content})
        return self._loop()

    # --- the loop ----------------------------------------------------------------------------
    def _loop(self) -> AgentOutcome:
        nudges = 0
        while True:
            stop = self._limit_reached()
            if stop is not None:
                return stop
            self.cancel.raise_if_cancelled()
            try:
                message = self._call()
            except Exception as exc:
                failure = api_failure(exc)
                if failure is None:
                    raise
                return AgentOutcome(status=AgentStatus.API_ERROR, detail=failure)
            self._count(message)
            content = [_block_param(block) for block in message.content]
            if not content:  # the API refuses an empty assistant turn in the next request
                content = [{"type": "text", "text": "(no answer)"}]
            self.messages.append({"role": "assistant", "content": content})
            for block in content:
                if block["type"] == "text" and block["text"].strip():
                    self.log(f"agent: {truncate(block['text'], 4000)}")
            if message.stop_reason == "refusal":
                return AgentOutcome(status=AgentStatus.REFUSED, detail="the model declined to work on this issue")
            calls = [block for block in content if block["type"] == "tool_use"]
            if calls and message.stop_reason == "max_tokens":
                # The last call was cut off mid-input (the SDK parses what arrived): run none of them.
                self.log("the answer was cut off (max_tokens): its tool calls were not run")
                self.messages.append({"role": "user", "content": [_cut_off(call) for call in calls]})
                continue
            if not calls:
                if nudges >= NUDGES:
                    return AgentOutcome(
                        status=AgentStatus.GAVE_UP, detail="the agent stopped without submitting a change"
                    )
                nudges += 1
                prompt = (
                    "Please continue."
                    if message.stop_reason == "max_tokens"
                    else "If the fix is complete and the tests pass, call the submit tool; otherwise keep working."
                )
                self.messages.append({"role": "user", "content": [{"type": "text", "text": prompt}]})
                continue
            submitted = self._run_tools(calls)
            if submitted is not None:
                return AgentOutcome(status=AgentStatus.SUBMITTED, submission=submitted)

    def _run_tools(self, calls: list[dict[str, Any]]) -> Submission | None:
        results: list[dict[str, Any]] = []
        submission: Submission | None = None
        for call in calls:
            self.cancel.raise_if_cancelled()
            self.log(f"tool {call['name']}: {truncate(json.dumps(call['input'], ensure_ascii=False), 2000)}")
            outcome: ToolResult | Submission = self.tools.call(call["name"], call["input"])
            if isinstance(outcome, Submission) and submission is None:
                submission = outcome
                self._submit_ids.append(call["id"])
                self.log(f"submitted: {outcome.title}")
                continue
            if isinstance(outcome, Submission):
                outcome = ToolResult(content="submit was already called in this turn", is_error=True)
            self.log(f"result{' (error)' if outcome.is_error else ''}: {truncate(outcome.content, 2000)}")
            results.append(
                {
                    "type": "tool_result",
                    "tool_use_id": call["id"],
                    "content": outcome.content,
                    "is_error": outcome.is_error,
                }
            )
        if submission is not None:
            self._held_results = results
            return submission
        self.messages.append({"role": "user", "content": results})
        return None

    # --- one call ---------------------------------------------------------------------------
    def _call(self) -> Any:
        request = self._request()
        if not self.settings.streaming:
            return self.client.messages.create(**request)
        with self.client.messages.stream(**request) as stream:
            for _event in stream:
                if self.cancel.cancelled:
                    raise TaskCancelledError(self.cancel.reason or "cancelled")
            return stream.get_final_message()

    def _request(self) -> dict[str, Any]:
        caching = self.settings.caching
        tools = self.tools.definitions()
        system: list[dict[str, Any]] = [{"type": "text", "text": self.system}]
        messages = [dict(m, content=[dict(b) for b in m["content"]]) for m in self.messages]
        if caching:
            system[-1]["cache_control"] = _CACHE
            user_turns = [m for m in messages if m["role"] == "user"]
            for turn in user_turns[-2:]:
                turn["content"][-1]["cache_control"] = _CACHE
        return {
            "model": self.settings.model,
            "max_tokens": self.settings.limits.max_output_tokens,
            "system": system,
            "tools": tools,
            "messages": messages,
        }

    def _count(self, message: Any) -> None:
        self.turns += 1
        used = TokenUsage.of(message.usage)
        self.usage.add(used)
        self.turn_usage.append(used)
        self.log(
            f"turn {self.turns}: {used.input_tokens} in (+{used.cache_read_input_tokens} cached, "
            f"+{used.cache_creation_input_tokens} written), {used.output_tokens} out; ${self.cost_usd:.4f} so far"
        )
        self.on_progress(AgentProgress(turns=self.turns, usage=self.usage, cost_usd=self.cost_usd))

    def _limit_reached(self) -> AgentOutcome | None:
        limits = self.settings.limits
        if limits.budget_usd is not None and self.cost_usd >= limits.budget_usd:
            return AgentOutcome(
                status=AgentStatus.BUDGET_EXHAUSTED,
                detail=f"budget of ${limits.budget_usd:.2f} spent (${self.cost_usd:.4f})",
            )
        if self.turns >= limits.max_turns:
            return AgentOutcome(status=AgentStatus.TURNS_EXHAUSTED, detail=f"{limits.max_turns} turns used")
        if time.monotonic() - self.started >= limits.max_seconds:
            return AgentOutcome(status=AgentStatus.TIME_EXHAUSTED, detail=f"{limits.max_seconds:.0f}s of work used")
        if self.usage.processed >= limits.max_tokens:
            return AgentOutcome(status=AgentStatus.TOKENS_EXHAUSTED, detail=f"{self.usage.processed} tokens used")
        return None


def _cut_off(call: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "tool_result",
        "tool_use_id": call["id"],
        "is_error": True,
        "content": "Your answer was cut off before this call was complete, so nothing was run. "
        "Make smaller edits, one call at a time.",
    }


def _block_param(block: Any) -> dict[str, Any]:
    """An answer's content block as the request param that sends it back."""
    if block.type == "text":
        return {"type": "text", "text": block.text}
    if block.type == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    dumped: dict[str, Any] = block.model_dump(mode="json", exclude_none=True)
    return dumped

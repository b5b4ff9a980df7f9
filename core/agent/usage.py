"""Token usage, what it costs, and the limits a run must stay within."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from core.settings import Settings


@dataclass
class TokenUsage:
    """Tokens as the Messages API reports them: `input_tokens` excludes what was read from or written to the cache."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    def add(self, other: TokenUsage) -> None:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_creation_input_tokens += other.cache_creation_input_tokens
        self.cache_read_input_tokens += other.cache_read_input_tokens

    @property
    def processed(self) -> int:
        """Tokens the model worked through anew: cache reads (a tenth of the price) do not count."""
        return self.input_tokens + self.output_tokens + self.cache_creation_input_tokens

    @classmethod
    def of(cls, usage: Any) -> TokenUsage:
        """From the SDK's `Usage` (fields may be None)."""
        return cls(
            input_tokens=int(getattr(usage, "input_tokens", 0) or 0),
            output_tokens=int(getattr(usage, "output_tokens", 0) or 0),
            cache_creation_input_tokens=int(getattr(usage, "cache_creation_input_tokens", 0) or 0),
            cache_read_input_tokens=int(getattr(usage, "cache_read_input_tokens", 0) or 0),
        )

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class Pricing:
    """US dollars per million tokens (defaults: Claude Sonnet list prices; 5-minute cache writes)."""

    input: float = 3.0
    output: float = 15.0
    cache_write: float = 3.75
    cache_read: float = 0.30

    @classmethod
    def from_settings(cls, settings: Settings) -> Pricing:
        return cls(
            input=settings.agent_price_input,
            output=settings.agent_price_output,
            cache_write=settings.agent_price_cache_write,
            cache_read=settings.agent_price_cache_read,
        )

    def cost(self, usage: TokenUsage) -> float:
        return (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_creation_input_tokens * self.cache_write
            + usage.cache_read_input_tokens * self.cache_read
        ) / 1_000_000


@dataclass(frozen=True, kw_only=True)
class Limits:
    """What one task's agent may spend: turns (model calls), wall time, tokens and dollars."""

    max_turns: int = 60
    max_seconds: float = 1800.0
    max_tokens: int = 3_000_000
    """Input (uncached), output and cache-write tokens; cache reads are limited by the dollar budget."""
    budget_usd: float | None = 5.0
    max_output_tokens: int = 8192
    """`max_tokens` of each request: the longest answer one turn may give."""

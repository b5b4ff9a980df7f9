"""The core's errors.

DockhandError
├── SettingsError            (ValueError)   a bad or missing setting, named
├── ValidationError          (ValueError)   a request the core refuses, with the reason
├── NotFoundError            (LookupError)  an unknown task, sandbox, schedule…
├── InvalidTransitionError   (ValueError)   a state change the state machine forbids
├── NoPipelineError          (LookupError)  a task type with nothing to run it
├── LeaseLostError                          a worker no longer owns the task it runs
├── TaskCancelledError                      raised inside a stage when the task is cancelled
├── StageFailedError                        a stage's expected failure: no retry
├── ApprovalRequired                        raised by a gate stage: the task waits for a human decision
└── RateLimitedError                        too many tasks: try again after `retry_after_seconds`
"""

from __future__ import annotations


class DockhandError(Exception):
    """Base of every error dockhand raises on purpose."""


class SettingsError(DockhandError, ValueError):
    pass


class ValidationError(DockhandError, ValueError):
    pass


class NotFoundError(DockhandError, LookupError):
    pass


class InvalidTransitionError(DockhandError, ValueError):
    pass


class NoPipelineError(DockhandError, LookupError):
    pass


class LeaseLostError(DockhandError):
    pass


class TaskCancelledError(DockhandError):
    pass


class StageFailedError(DockhandError):
    """A stage ended in a failure that another attempt would not change (tests fail, exit code ≠ 0)."""


class ApprovalRequired(DockhandError):
    """A gate stage stops the task here until someone approves (the stages after it run) or rejects it."""

    def __init__(self, summary: str, *, expires_in_seconds: float | None) -> None:
        super().__init__(summary)
        self.summary = summary
        self.expires_in_seconds = expires_in_seconds


class RateLimitedError(DockhandError):
    """A submission over a rate limit; nothing was stored. `retry_after_seconds` says when it may succeed."""

    def __init__(self, message: str, retry_after_seconds: float) -> None:
        super().__init__(message)
        self.retry_after_seconds = max(1, int(retry_after_seconds + 0.999))

    def when(self) -> str:
        seconds = self.retry_after_seconds
        return f"{seconds} s" if seconds < 120 else f"{(seconds + 59) // 60} min"

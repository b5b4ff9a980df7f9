"""What the GitHub intake's parts share: a client per piece of work, and what became of a delivery."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bot.github.client import GitHubClient

ClientFor = Callable[[int | None], GitHubClient]


@dataclass(frozen=True)
class Handled:
    """What became of a delivery, as its row records it: a line for people, and the task it started."""

    outcome: str
    task_id: str | None = None
    retry_in_seconds: float | None = None  # not decided yet: handle the delivery again this much later


@contextmanager
def github_client(client_for: ClientFor, installation_id: int | None) -> Iterator[GitHubClient]:
    """A client for one piece of work, closed afterwards."""
    client = client_for(installation_id)
    try:
        yield client
    finally:
        client.close()

"""What runs after Slack's acknowledgement, and where: Bolt's lazy listeners on a small executor of their own.

Bolt answers a request as soon as its ack function returns (`process_before_response=True`), in the request's
own thread: no polling for the ack, and no queueing behind earlier requests' work. The rest of a listener (the
intake, Slack Web API calls, the answer through the response_url) is a lazy function on `AFTER_ACK_THREADS`
threads: a burst of requests waits in that queue, and it never takes more of the process than those threads,
so the workers running tasks in the same process keep their share.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

AFTER_ACK_THREADS = 2


def after_ack_executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=AFTER_ACK_THREADS, thread_name_prefix="slack-after-ack")


def ack_only(ack: Any) -> None:
    """The acknowledgement of a request whose whole answer comes later (a mention, a button)."""
    ack()


def logged(listener: Callable[..., None]) -> Callable[..., None]:
    """`listener` as a lazy function: what it raises is logged here, once (Bolt's error handler does not see lazy
    functions). Bolt reads the arguments to pass from the wrapped function's signature."""

    @functools.wraps(listener)
    def run(**kwargs: Any) -> None:
        try:
            listener(**kwargs)
        except (OSError, SlackApiError) as exc:  # Slack unreachable or refusing: nobody is waiting on this answer
            log.warning("Slack: could not finish a request: %s: %s", type(exc).__name__, exc)
        except Exception:
            log.exception("Slack: a request failed after its acknowledgement")

    return run

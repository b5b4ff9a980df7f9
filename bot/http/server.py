"""How the HTTP app is served: uvicorn, with a deadline on each request's headers.

uvicorn's own timers cover an idle keep-alive connection, not one that trickles a request's headers
in a byte at a time (slowloris): such a connection would be held open for ever. Here every request
must have its headers complete within `HEADER_TIMEOUT_SECONDS` of its first byte (or of the connection),
or it is answered 408 and closed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

HEADER_TIMEOUT_SECONDS = 10.0
_TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"


class HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections whose request headers do not arrive in time."""

    header_timeout_seconds = HEADER_TIMEOUT_SECONDS
    _header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:  # a request has begun (or is awaited) but its headers are not in
            if self._header_deadline is None:
                self._arm()
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._header_deadline = self.loop.call_later(self.header_timeout_seconds, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if self.conn.their_state is not h11.IDLE or self.transport.is_closing():
            return
        log.info("closing a connection from %s: no complete request headers in time", self.client)
        self.transport.write(_TIMED_OUT)
        self.transport.close()


def server_config(
    app: Any, *, header_timeout_seconds: float = HEADER_TIMEOUT_SECONDS, **options: Any
) -> uvicorn.Config:
    """uvicorn's configuration for dockhand's app: its own logging, no access log, the header deadline."""
    protocol = type(
        "HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), {"header_timeout_seconds": header_timeout_seconds}
    )
    return uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", http=protocol, **options)

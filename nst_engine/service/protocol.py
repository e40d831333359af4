"""Deadlines uvicorn lacks: a request's headers must arrive in time, and its body must keep moving.

uvicorn times out idle keep-alive connections but not a client that trickles its headers or stalls
its body, so one slow client could hold a connection (and its memory) for ever. This wraps uvicorn's
h11 protocol through the asyncio Protocol interface only, reading h11's public connection state.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

CHECK_EVERY = 0.25  # seconds between deadline checks of one connection


def timed_protocol(header_timeout: float, body_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol with these deadlines; pass it as `uvicorn.Config(http=...)`."""

    class TimedH11Protocol(H11Protocol):
        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            now = self.loop.time()
            self._request_began: float | None = now  # a silent new connection counts as slow headers
            self._last_data = now
            self._deadline_check = self.loop.call_later(CHECK_EVERY, self._check_deadlines)

        def data_received(self, data: bytes) -> None:
            now = self.loop.time()
            self._last_data = now
            if self._request_began is None and self.conn.their_state is h11.IDLE:
                self._request_began = now
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._request_began = None

        def connection_lost(self, exc: Exception | None) -> None:
            self._deadline_check.cancel()
            super().connection_lost(exc)

        def _check_deadlines(self) -> None:
            if self.transport.is_closing():
                return
            now, state = self.loop.time(), self.conn.their_state
            if state is h11.IDLE and self._request_began is not None and now - self._request_began > header_timeout:
                self._refuse(f"The request's headers took more than {header_timeout:g} s: send them at once.")
                return
            paused = bool(getattr(self.flow, "read_paused", False))  # the app is behind, not the client
            if state is h11.SEND_BODY and not paused and now - self._last_data > body_timeout:
                self.transport.close()  # the app sees a disconnect and drops the request
                return
            self._deadline_check = self.loop.call_later(CHECK_EVERY, self._check_deadlines)

        def _refuse(self, message: str) -> None:
            body = json.dumps({"error": message}).encode()
            head = (b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nConnection: close\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
            self.transport.write(head + body)
            self.transport.close()

    return TimedH11Protocol

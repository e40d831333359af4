"""Deadlines and closes uvicorn lacks: a request's headers must arrive in time, its body must keep
moving, and a connection whose body is refused unread is closed at once, gently.

uvicorn times out idle keep-alive connections but not a client that trickles its headers or stalls
its body, so one slow client could hold a connection (and its memory) for ever. This wraps uvicorn's
h11 protocol through the asyncio Protocol interface only, reading h11's public connection state.

A refusal sent before the body was read (413, 401, 429...) says `Connection: close` (CloseUnreadBodies);
the connection then closes its sending half at once, reads and drops what the client still sends, and
closes once the client pauses for LINGER_SECONDS: closing outright with unread data would reset the
connection, and a client still sending (a large upload on a slow network) would never read the refusal
(RFC 9112, section 9.6).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

CHECK_EVERY = 0.25  # seconds between deadline checks of one connection
LINGER_SECONDS = 2.0  # after a refusal of an unread body: the pause in its rest that closes the connection
_FINISHED = (h11.DONE, h11.MUST_CLOSE, h11.CLOSED)  # our side: the response is out


def timed_protocol(header_timeout: float, body_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol with these deadlines; pass it as `uvicorn.Config(http=...)`."""

    class TimedH11Protocol(H11Protocol):
        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(_GentleTransport(transport, self))
            now = self.loop.time()
            self._request_began: float | None = now  # a silent new connection counts as slow headers
            self._last_data = now
            self._lingering = False
            self._deadline_check = self.loop.call_later(CHECK_EVERY, self._check_deadlines)

        def data_received(self, data: bytes) -> None:
            now = self.loop.time()
            self._last_data = now
            if self._lingering:
                return  # the rest of a refused body: dropped
            if self._request_began is None and self.conn.their_state is h11.IDLE:
                self._request_began = now
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._request_began = None

        def connection_lost(self, exc: Exception | None) -> None:
            self._deadline_check.cancel()
            super().connection_lost(exc)

        def body_unread(self) -> bool:
            """The response is out while the client still owes (part of) its request body."""
            return self.conn.our_state in _FINISHED and self.conn.their_state is h11.SEND_BODY

        def linger(self, raw: asyncio.Transport) -> None:
            """Close the sending half now; the deadline check closes the rest once the client pauses."""
            self._lingering = True
            self._last_data = self.loop.time()
            if raw.can_write_eof():  # not under TLS
                raw.write_eof()

        def _check_deadlines(self) -> None:
            raw = self.transport.raw  # type: ignore[attr-defined]
            if raw.is_closing():
                return
            now, state = self.loop.time(), self.conn.their_state
            if self._lingering:
                if now - self._last_data > LINGER_SECONDS:
                    raw.close()
                    return
            elif state is h11.IDLE and self._request_began is not None and now - self._request_began > header_timeout:
                self._refuse(f"The request's headers took more than {header_timeout:g} s: send them at once.")
                return
            elif (state is h11.SEND_BODY and not getattr(self.flow, "read_paused", False)  # paused: the app is behind
                  and now - self._last_data > body_timeout):
                print(f"Dropped a request from {_peer(self.client)}: its body stalled for more than "
                      f"{body_timeout:g} s.", file=sys.stderr, flush=True)
                if self.conn.our_state is h11.SEND_RESPONSE:  # the app has not answered: say why, then close
                    self._refuse(f"The request's body stalled for more than {body_timeout:g} s: send it without "
                                 "pauses.")
                else:
                    raw.close()
                return  # the app sees a disconnect and drops the request
            self._deadline_check = self.loop.call_later(CHECK_EVERY, self._check_deadlines)

        def _refuse(self, message: str) -> None:
            body = json.dumps({"error": message}).encode()
            head = (b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nConnection: close\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
            self.transport.write(head + body)
            self.transport.raw.close()  # type: ignore[attr-defined]

    return TimedH11Protocol


class _GentleTransport:
    """The connection's transport as uvicorn sees it: its `close` lingers while a refused body is unread."""

    def __init__(self, raw: asyncio.Transport, protocol: Any) -> None:
        self.raw = raw
        self._protocol = protocol
        self._lingering = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)

    def is_closing(self) -> bool:
        return self._lingering or self.raw.is_closing()

    def close(self) -> None:
        if self._lingering or self.raw.is_closing() or not self._protocol.body_unread():
            self.raw.close()
        else:
            self._lingering = True
            self._protocol.linger(self.raw)


class CloseUnreadBodies:
    """ASGI middleware: a response that leaves the request's body unread says `Connection: close`, so that
    the client does not wait for a connection that cannot carry another request (it closes, see above)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        read = b"transfer-encoding" not in headers and headers.get(b"content-length", b"0").strip() in (b"0", b"")

        async def receiving() -> dict[str, Any]:
            nonlocal read
            message = await receive()
            if message["type"] == "http.disconnect" or not message.get("more_body", False):
                read = True
            return message

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and not read:
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receiving, sending)


def _peer(client: Any) -> str:
    return f"{client[0]}:{client[1]}" if client else "a client"

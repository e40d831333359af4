"""A loopback HTTP proxy in front of the test engine that notes the progress events it passes on.

The GUI tests click Cancel / "Stop and keep" while a job runs. A fixed sleep before the click stands
for "the job is running and the progress window shows an iteration"; this proxy lets the test wait for
exactly that: the plug-in has received a progress event with an iteration (and it is not finished).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class EventTap:
    """Forwards every request to `upstream`; counts progress events with an iteration, per stream."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", int(parts.port or 80))
        self.progress_events = 0
        self.last_event: dict[str, object] = {}
        self.last_job: str | None = None  # the job whose events passed last
        self.received: list[dict[str, object]] = []  # what the engine says it received, per started job
        self._cond = threading.Condition()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="event-tap", daemon=True)
        self.thread.start()

    def note(self, job: str, event: dict[str, object]) -> None:
        with self._cond:
            self.last_event, self.last_job = event, job
            if event.get("type") == "started" and isinstance(event.get("received"), dict):
                self.received.append(event["received"]["content"])  # type: ignore[index]
            if event.get("type") == "progress" and int(str(event.get("iteration") or 0)) >= 1:
                self.progress_events += 1
            self._cond.notify_all()

    def wait_progress(self, more_than: int, timeout: float = 120) -> dict[str, object]:
        """Until more than `more_than` progress events have passed; the last event, else TimeoutError."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.progress_events <= more_than:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no progress event within {timeout} s (last: {self.last_event})")
                self._cond.wait(left)
            return dict(self.last_event)

    def stop_last_job(self, token: str) -> int:
        """Ask the engine to stop the last job early ("Stop and keep"): a run the test does not click
        then ends as soon as it has shown progress, however many iterations it was given."""
        conn = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            conn.request("POST", f"/jobs/{self.last_job}/stop", headers={"Authorization": f"Bearer {token}"})
            return conn.getresponse().status
        finally:
            conn.close()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        tap = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # the body ends when the connection closes: no re-chunking

            def log_message(self, *_args: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                if body is not None:
                    headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection(*tap.upstream, timeout=600)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    self.send_response(resp.status)
                    for key, value in resp.getheaders():
                        if key.lower() not in HOP_HEADERS:
                            self.send_header(key, value)
                    if not self.path.endswith("/events"):
                        data = resp.read()
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                        return
                    self.end_headers()
                    while line := resp.readline():
                        self.wfile.write(line)
                        self.wfile.flush()
                        try:
                            event = json.loads(line)
                        except ValueError:
                            continue
                        if isinstance(event, dict):
                            tap.note(self.path.split("/")[2], event)
                except (OSError, http.client.HTTPException):
                    pass  # the plug-in closed its end (or the engine its): close the other one too
                finally:
                    conn.close()

            do_GET = do_POST = do_DELETE = do_PUT = _forward  # noqa: N815

        return Handler

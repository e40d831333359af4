"""Talking to a real `nst-engine serve` process in tests: requests, event streams, and a job that blocks the queue.

Every wait here is bounded and waits for a condition (a state, an event), never for a fixed time.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import struct
import sys
import threading
import time
import urllib.parse
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gimp_plugin" / "neural_style_transfer"))
from engine_client import _multipart  # noqa: E402

FAST = {"size": 48, "iterations": 2, "scales": 1}
# Runs until the test cancels it: jobs behind it wait however fast the machine is.
BLOCKING = {"size": 48, "iterations": 100_000, "scales": 1}


def call(engine, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
         token: str | None = "default", timeout: float = 60) -> tuple[int, dict, bytes]:
    parsed = urllib.parse.urlsplit(engine.url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=timeout)
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["Authorization"] = f"Bearer {engine.token if token == 'default' else token}"
    try:
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def json_call(engine, method: str, path: str, **kwargs) -> tuple[int, dict]:
    status, _, data = call(engine, method, path, **kwargs)
    return status, json.loads(data)


def submit(engine, photos, settings=FAST, content: bytes | None = None, styles: list[bytes] | None = None,
           extra: list | None = None, token: str | None = "default", fields: list | None = None) -> tuple[int, dict]:
    """POST /jobs; `fields` replaces the whole form when given."""
    if fields is None:
        fields = [("settings", json.dumps(settings), None)]
        fields.append(("content", content if content is not None else photos["chelsea"].read_bytes(), "c.jpg"))
        for index, data in enumerate(styles if styles is not None else [photos["ihc"].read_bytes()]):
            fields.append(("style", data, f"s{index}.jpg"))
        fields += extra or []
    body, content_type = _multipart(fields)
    status, _, data = call(engine, "POST", "/jobs", body, {"Content-Type": content_type}, token=token)
    return status, json.loads(data)


def events(engine, job_id: str, timeout: float = 180) -> list[dict]:
    """The job's events (no heartbeats) up to its terminal one; fails after `timeout` seconds."""
    parsed = urllib.parse.urlsplit(engine.url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    connection.request("GET", f"/jobs/{job_id}/events", headers={"Authorization": f"Bearer {engine.token}"})
    response = connection.getresponse()
    assert response.status == 200, response.read()
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            line = response.readline()
            if not line:
                return seen
            event = json.loads(line)
            if event["type"] != "heartbeat":
                seen.append(event)
            if event["type"] in ("done", "error", "cancelled"):
                return seen
    finally:
        connection.close()
    raise AssertionError(f"job {job_id} did not finish within {timeout} s: {seen[-3:]}")


def wait_state(engine, job_id: str, states: tuple[str, ...], timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    info: dict = {}
    while time.monotonic() < deadline:
        info = json_call(engine, "GET", f"/jobs/{job_id}")[1]
        if info["state"] in states:
            return info
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached {states}: {info}")


def block_queue(engine, photos) -> dict:
    """Start a job that runs until cancelled, and wait until it runs."""
    status, job = submit(engine, photos, BLOCKING)
    assert status == 202, job
    wait_state(engine, job["id"], ("running",))
    return job


def unblock(engine, job: dict) -> None:
    assert call(engine, "DELETE", f"/jobs/{job['id']}")[0] == 200
    assert events(engine, job["id"])[-1]["type"] == "cancelled"


def health(engine) -> dict:
    status, answer = json_call(engine, "GET", "/health")
    assert status == 200 and answer["status"] == "ok"
    return answer


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge size: only a decoder that trusts it pays."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def raw_socket(engine, timeout: float = 30) -> socket.socket:
    parsed = urllib.parse.urlsplit(engine.url)
    return socket.create_connection((parsed.hostname, parsed.port), timeout=timeout)


def read_until_closed(sock: socket.socket, deadline: float) -> bytes:
    """Everything the server sends until it closes the connection; fails at `deadline` (monotonic)."""
    received = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk
    raise AssertionError(f"the server kept the connection open: {received[:200]!r}")


def line_containing(stream, text: str, timeout: float) -> str | None:
    """The first line of `stream` containing `text`, or None at its end or after `timeout` seconds."""
    found: list[str] = []

    def read() -> None:
        for line in stream:
            if text in line:
                found.append(line)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    return found[0] if found else None

"""The plug-in's frames-job client against a stand-in engine (stdlib HTTP): exactly what is sent to POST /frames,
that each frame is fetched once the engine says it is done, and what Stop and keep, cancel and errors give."""

from __future__ import annotations

import json
import struct
import sys
import threading
from collections.abc import Iterator
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

PLUGIN = Path(__file__).resolve().parents[1] / "gimp_plugin" / "neural_style_transfer"
sys.path.insert(0, str(PLUGIN))

import frames_client  # noqa: E402
from engine_client import EngineClient, EngineJobFailed, JobCancelled, RawImage  # noqa: E402

W, H = 3, 2


def _pixels(value: float) -> bytes:
    return struct.pack(f"<{W * H * 4}f", *([value] * (W * H * 4)))


class Engine:
    """What the stand-in engine answers (`events`, the frames it has) and what it was sent (`requests`)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.have: set[int] = set()
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self.fetched: list[int] = []


def _form(body: bytes, content_type: str) -> list[tuple[str, str | None, bytes]]:
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    return [(part.get_param("name", header="content-disposition"), part.get_filename(), part.get_payload(decode=True))
            for part in message.iter_parts()]


@pytest.fixture
def engine() -> Iterator[tuple[Engine, EngineClient]]:
    state = Engine()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/frames":
                state.requests.append(("POST", self.path, {"form": _form(body, self.headers["Content-Type"]),
                                                           "auth": self.headers["Authorization"]}))
                self._send(202, json.dumps({"id": "j1", "state": "queued", "position": 0, "frames": 3}).encode())
            else:
                state.requests.append(("POST", self.path, {}))
                self._send(202, b"{}")

        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/jobs/j1/events":
                self._send(200, b"".join(json.dumps(e).encode() + b"\n" for e in state.events))
            elif self.path.startswith("/jobs/j1/frames/"):
                index = int(self.path.split("/")[-1].split("?")[0])
                assert self.path.endswith("?format=raw-f32")
                if index not in state.have:
                    self._send(409, json.dumps({"error": f"frame {index} is not done"}).encode())
                    return
                state.fetched.append(index)
                self._send(200, _pixels(index / 10), {"X-Width": str(W), "X-Height": str(H)})
            else:
                self._send(404, b'{"error": "no"}')

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, EngineClient(f"http://127.0.0.1:{server.server_address[1]}", "tok")
    finally:
        server.shutdown()


def _frames() -> list[RawImage]:
    return [RawImage(W, H, 4, "u16", bytes([i]) * (W * H * 8)) for i in (1, 2, 3)]


def _progress(i: int) -> dict[str, Any]:
    return {"type": "progress", "frame": i, "frames": 3, "fraction": i / 3}


def test_sends_the_frames_in_order_with_the_styles(engine: tuple[Engine, EngineClient]) -> None:
    state, client = engine
    job = frames_client.submit_frames(client, _frames(), {"preset": "draft"}, {"strength": 0.5, "long_term": 0},
                                      [b"STYLE1", b"STYLE2"], ["/x/starry night.jpg", "b.png"])
    assert job.id == "j1" and job.total == 3
    (_method, path, request), = state.requests
    assert path == "/frames" and request["auth"] == "Bearer tok"
    form = request["form"]
    frames = [data for name, _file, data in form if name == "frame"]
    assert frames == [f.data for f in _frames()]
    styles = [(file, data) for name, file, data in form if name == "style"]
    assert styles == [("starry night.jpg", b"STYLE1"), ("b.png", b"STYLE2")]
    fields = {name: data.decode() for name, file, data in form if file is None}
    assert json.loads(fields["temporal"]) == {"strength": 0.5, "long_term": 0}
    assert (fields["width"], fields["height"], fields["sample_format"], fields["content_format"]) == (
        "3", "2", "u16", "raw")
    assert "learned_style" not in fields


def test_a_learned_style_is_sent_by_name_without_style_files(engine: tuple[Engine, EngineClient]) -> None:
    state, client = engine
    frames_client.submit_frames(client, _frames(), {}, {"strength": 1.0, "long_term": 3}, learned_style="dots",
                                strength=0.8)
    form = state.requests[0][2]["form"]
    fields = {name: data.decode() for name, file, data in form if file is None}
    assert fields["learned_style"] == "dots" and fields["strength"] == "0.8"
    assert not [name for name, _f, _d in form if name == "style"]
    with pytest.raises(ValueError, match="style pictures or a learned style"):
        frames_client.submit_frames(client, _frames(), {}, {})


def test_each_frame_is_fetched_when_done_and_all_come_back_in_order(engine: tuple[Engine, EngineClient]) -> None:
    state, client = engine
    state.have = {1, 2, 3}
    state.events = [{"type": "queued", "position": 0}, _progress(1), {"type": "frame_done", "frame": 1, "frames": 3},
                    _progress(2), {"type": "frame_done", "frame": 2, "frames": 3},
                    {"type": "frame_done", "frame": 3, "frames": 3}, {"type": "done"}]
    seen: list[dict[str, Any]] = []
    job = frames_client.submit_frames(client, _frames(), {}, {}, [b"S"])
    result = job.wait(seen.append)
    assert state.fetched == [1, 2, 3]  # once each, as their frame_done came
    assert [struct.unpack_from("<f", f.data)[0] for f in result.frames] == pytest.approx([0.1, 0.2, 0.3])
    assert result.total == 3 and not result.stopped_early
    assert [e["type"] for e in seen] == ["queued", "progress", "frame_done", "progress", "frame_done",
                                         "frame_done", "receiving"]


def test_stop_and_keep_gives_the_frames_finished(engine: tuple[Engine, EngineClient]) -> None:
    state, client = engine
    state.have = {1, 2}  # the second was cut short and kept; the third never started
    state.events = [_progress(1), {"type": "frame_done", "frame": 1, "frames": 3}, _progress(2),
                    {"type": "done", "stopped_early": True}]  # frame 2's frame_done not seen: fetched at the end
    result = frames_client.submit_frames(client, _frames(), {}, {}, [b"S"]).wait()
    assert len(result.frames) == 2 and result.stopped_early and result.total == 3
    assert state.fetched == [1, 2]


def test_cancel_and_error_raise(engine: tuple[Engine, EngineClient]) -> None:
    state, client = engine
    state.events = [_progress(1), {"type": "cancelled"}]
    with pytest.raises(JobCancelled):
        frames_client.submit_frames(client, _frames(), {}, {}, [b"S"]).wait()
    state.events = [_progress(1), {"type": "error", "message": "out of memory", "kind": "oom"}]
    with pytest.raises(EngineJobFailed, match="out of memory"):
        frames_client.submit_frames(client, _frames(), {}, {}, [b"S"]).wait()

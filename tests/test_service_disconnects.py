"""Clients that go away or stall (issue 21, items 17 and 22): nothing runs for nobody, nothing is left open.

Tests here check mechanisms (where a cancel is noticed, when a connection closes), never wall-clock time.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from nst_engine.errors import Cancelled
from nst_engine.gatys.layers import LAYER_INDEX
from nst_engine.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.mark.parametrize("tile_size", [None, 192])
@pytest.mark.parametrize("during", ["forward", "backward"])
def test_a_cancel_is_noticed_at_the_next_layer_not_the_next_iteration(cache, cat, stain, during, tile_size) -> None:
    """One iteration at a large size takes many seconds on a CPU (20 s at 1024 px measured on 2 busy cores);
    closing the stream cancels within about a second only if the run looks between layers, both ways."""
    from nst_engine import api

    cancel = threading.Event()
    passes: list[str] = []  # each layer's forward or backward pass with a gradient, in order
    model, _ = cache.get(Settings(device="cpu", precision="fp32"), torch.device("cpu"), False)
    conv3_1 = LAYER_INDEX["conv3_1"]
    handles = []

    def after_forward(module, _inputs, output) -> None:
        if not output.requires_grad:  # the targets' passes, before any iteration
            return
        index = list(model.features).index(module)
        passes.append(f"forward {index}")
        if during == "forward" and index == conv3_1:
            cancel.set()

        def after_backward(_grad) -> None:
            passes.append(f"backward {index}")
            if during == "backward" and index == conv3_1:
                cancel.set()

        output.register_hook(after_backward)

    for module in model.features:
        handles.append(module.register_forward_hook(after_forward))
    settings = Settings(size=256 if tile_size else 96, iterations=3, scales=1, time_budget=0, tile_size=tile_size,
                        device="cpu", precision="fp32")
    try:
        with pytest.raises(Cancelled):
            api.stylize(cat, [stain], settings, cancel=cancel, cache=cache)
    finally:
        for handle in handles:
            handle.remove()
    at = passes.index(f"{during} {conv3_1}")
    assert passes[at + 1:] == [], f"layers ran after the cancel: {passes[at + 1:]}"
    assert any(p.startswith("forward") for p in passes[:at]) and passes[-1] == f"{during} {conv3_1}"


def _head(answer: bytes) -> str:
    return answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()


def test_a_refused_body_closes_the_connection_at_once_not_at_the_stall_timeout(start_engine) -> None:
    """A 413 from the Content-Length left the connection open until --body-timeout (30 s by default)."""
    from service_helpers import raw_socket, read_until_closed

    engine = start_engine("--max-body-mb", "1", "--body-timeout", "600")
    with raw_socket(engine) as sock:  # promises 2 MB, sends a little, then waits for the answer
        sock.sendall(f"POST /jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {engine.token}\r\n"
                     "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 2097152\r\n\r\n".encode()
                     + b"--b\r\n" + b"x" * 5000)
        answer = read_until_closed(sock, time.monotonic() + 120)  # fails if open then; the stall timeout is 600 s
    assert answer.startswith(b"HTTP/1.1 413") and "connection: close" in _head(answer), answer[:300]
    assert b"more than the engine's limit" in answer


def test_a_stalled_plan_body_is_answered_and_logged_in_one_line_without_a_traceback(start_engine) -> None:
    from service_helpers import health, raw_socket, read_until_closed

    engine = start_engine("--body-timeout", "1")
    with raw_socket(engine) as sock:
        sock.sendall(f"POST /plan HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {engine.token}\r\n"
                     "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"width\": 6".encode())
        answer = read_until_closed(sock, time.monotonic() + 120)
    assert answer.startswith(b"HTTP/1.1 408") and b"stalled" in answer, answer
    deadline = time.monotonic() + 60
    while "stalled for more than" not in engine.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    health(engine)  # the dropped request's handler has run by the time another request is answered
    log = engine.log.read_text()
    assert "its body stalled for more than 1 s" in log, log[-2000:]
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log[-3000:]



async def _asgi_post(app, path: str, body: bytes, content_type: str, token: str) -> list[dict]:
    """POST to the ASGI app from a client that sends `body` whole, then is gone (before any answer)."""
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    headers = [(b"host", b"x"), (b"authorization", f"Bearer {token}".encode()),
               (b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2),
             "state": {}}
    await app(scope, receive, send)
    return sent


def _post_then_leave(app, path: str, fields: list, token: str, keep: int | None = None) -> list[dict]:
    """`fields` as multipart; `keep`: only that many bytes of the body arrive (Content-Length says so)."""
    import asyncio

    from service_helpers import _multipart

    body, content_type = _multipart(fields)
    return asyncio.run(_asgi_post(app, path, body[:keep], content_type, token))


TOKEN = "t" * 40


@pytest.fixture
def app(engine_home, synthetic_weights_file):
    """The service's app in this process, its queue closed afterwards."""
    from nst_engine.service.app import create_app
    from nst_engine.service.config import ServiceConfig

    made = create_app(ServiceConfig(token=TOKEN, weights=synthetic_weights_file,
                                    server_settings={"device": "cpu", "precision": "fp32"}))
    yield made
    made.state.queue.close()


def _learn_fields(photos, count: int) -> list:
    import numpy as np

    from nst_engine.pictures.images import Picture, encode_png

    rng = np.random.default_rng(2)
    fields = [("name", "Unseen", None), ("style", photos["hubble"].read_bytes(), "hubble.jpg")]
    return fields + [("photo", encode_png(Picture(rng.random((64, 64, 3), dtype=np.float32), None, 8, False)),
                      f"p{i}.png") for i in range(count)]


def _stylize_fields(photos) -> list:
    import json

    return [("settings", json.dumps({"size": 48, "iterations": 2, "scales": 1}), None),
            ("content", photos["chelsea"].read_bytes(), "c.jpg"), ("style", photos["ihc"].read_bytes(), "s.jpg")]


def _answer(sent: list[dict]) -> tuple[int, dict]:
    import json

    return sent[0]["status"], json.loads(sent[1]["body"])


@pytest.mark.parametrize("path", ["/styles/learn", "/jobs"])
def test_a_body_cut_short_is_called_incomplete_not_a_form_missing_its_last_part(app, photos, path) -> None:
    """A cut multipart body parsed as a form without its last parts: "no `style` image file", "has 7"."""
    from nst_engine.learned.train import MIN_IMAGES

    fields = _learn_fields(photos, MIN_IMAGES) if path == "/styles/learn" else _stylize_fields(photos)
    status, answer = _answer(_post_then_leave(app, path, fields, TOKEN, keep=-300))  # the last part cut off
    assert status == 400 and "incomplete" in answer["error"] and "whole request" in answer["error"], answer
    uploads = Path(os.environ["NST_ENGINE_HOME"]) / "data" / "learning" / ".uploads"
    assert not uploads.exists() or not any(uploads.iterdir())


def test_too_few_photographs_says_how_many_arrived_and_how_many_are_needed(app, photos) -> None:
    from nst_engine.learned.train import MIN_IMAGES

    status, answer = _answer(_post_then_leave(app, "/styles/learn", _learn_fields(photos, MIN_IMAGES - 1), TOKEN))
    assert status == 400, answer
    assert answer["error"].startswith(f"Only {MIN_IMAGES - 1} photographs arrived: learning a style needs at "
                                      f"least {MIN_IMAGES}. Send 1 more"), answer




@pytest.mark.parametrize("path", ["/styles/learn", "/jobs"])
def test_a_job_whose_client_left_before_the_answer_is_cancelled_at_once(app, photos, path) -> None:
    """A learning request whose client vanished while it was admitted ran on, unseen, with its photographs."""
    import json

    from nst_engine.learned.train import MIN_IMAGES

    queue = app.state.queue
    fields = _learn_fields(photos, MIN_IMAGES) if path == "/styles/learn" else _stylize_fields(photos)
    with queue.device_lock:  # nothing starts meanwhile
        sent = _post_then_leave(app, path, fields, TOKEN)
        assert sent[0]["status"] == 202, sent
        job = queue.get(json.loads(sent[1]["body"])["id"])
        assert job.cancel.is_set(), "a job nobody can follow was left to run"
    deadline = time.monotonic() + 120
    while job.state != "cancelled":
        assert time.monotonic() < deadline, job.state
        time.sleep(0.05)
    uploads = Path(os.environ["NST_ENGINE_HOME"]) / "data" / "learning" / ".uploads"
    assert not uploads.exists() or not any(uploads.iterdir()), "its photographs are still on disk"

"""Every bad request gets a 4xx `{"error": ...}` that says what to do; the engine keeps serving.

One engine serves the whole table (starting one per case would take minutes on two cores): after
each case the engine must still answer, and after all of them a queued job must finish correctly.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from service_helpers import (
    FAST,
    block_queue,
    call,
    events,
    health,
    json_call,
    png,
    png_claiming,
    raw_socket,
    read_until_closed,
    submit,
    unblock,
)

NAN = float("nan")
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nnewpath 0 0 moveto 10 10 lineto stroke\n%%EOF\n"


def _raw(photos, pixels: bytes, width="4", height="4", sample="f32", channels="4", as_file=()) -> list:
    fields = {"width": width, "height": height, "sample_format": sample, "channels": channels}
    return [("settings", json.dumps(FAST), None), ("content", pixels, "c.raw"), ("content_format", "raw", None),
            *[(k, v.encode() if k in as_file else v, "f.txt" if k in as_file else None) for k, v in fields.items()],
            ("style", photos["ihc"].read_bytes(), "s.jpg")]


def _cases(photos) -> list[tuple[str, dict, int, str]]:
    """(name, submit() arguments, status, text the error must contain)."""
    ihc = photos["ihc"].read_bytes()
    nan_pixels = np.full((4, 4, 4), np.nan, "<f4").tobytes()
    return [
        ("content not an image", {"content": b"this is not a picture"}, 400, "not an image"),
        ("broken style", {"styles": [b"\x89PNG\r\n\x1a\n broken"]}, 400, "style image 1"),
        ("EPS is never decoded", {"content": EPS}, 400, "not an image"),
        ("huge claimed size", {"content": png_claiming(100_000, 100_000)}, 413, "more than the limit"),
        ("request pixel budget", {"content": png_claiming(1000, 1000), "styles": [png_claiming(1000, 1000)] * 3},
         413, "per job"),
        ("body too large", {"content": np.random.default_rng(0).bytes(2 * 2**20)}, 413, "MB"),
        ("unknown setting", {"settings": {"size": 48, "colour": "red"}}, 422, "Unknown setting"),
        ("negative iterations", {"settings": {"iterations": -1}}, 422, "iterations"),
        ("style_blend a number", {"settings": {**FAST, "style_blend": 5}}, 422, "style_blend"),
        ("style_blend a bool", {"settings": {**FAST, "style_blend": True}}, 422, "style_blend"),
        ("preset a list", {"settings": {**FAST, "preset": ["draft"]}}, 422, "preset"),
        ("style_layers value text", {"settings": {**FAST, "style_layers": {"conv1_1": "x"}}}, 422, "style_layers"),
        ("style_layers a list", {"settings": {**FAST, "style_layers": ["conv1_1"]}}, 422, "style_layers"),
        ("notebook_size a number", {"settings": {**FAST, "notebook_size": 5}}, 422, "notebook_size"),
        ("style_blend NaN", {"settings": {**FAST, "style_blend": [NAN, 1]}}, 422, "style_blend"),
        ("style_layers NaN", {"settings": {**FAST, "style_layers": {"conv1_1": NAN}}}, 422, "style_layers"),
        ("server-only device", {"settings": {**FAST, "device": "cuda"}}, 422, "device"),
        ("settings as a file", {"fields": [("settings", b"{}", "s.json"), ("content", ihc, "c.jpg"),
                                           ("style", ihc, "s.jpg")]}, 400, "as a file"),
        ("settings not JSON", {"fields": [("settings", "{size", None), ("content", ihc, "c.jpg"),
                                          ("style", ihc, "s.jpg")]}, 400, "JSON"),
        ("settings a list", {"fields": [("settings", "[1]", None), ("content", ihc, "c.jpg"),
                                        ("style", ihc, "s.jpg")]}, 400, "JSON object"),
        ("raw width as a file", {"fields": _raw(photos, bytes(256), as_file=("width",))}, 400, "as a file"),
        ("raw width not a number", {"fields": _raw(photos, bytes(256), width="four")}, 400, "width"),
        ("raw wrong length", {"fields": _raw(photos, bytes(100), sample="u16")}, 400, "raw image"),
        ("raw NaN pixels", {"fields": _raw(photos, nan_pixels)}, 400, "NaN"),
        ("no style", {"styles": []}, 400, "style"),
        ("too many styles", {"styles": [ihc] * 9}, 400, "styles"),
        ("content too thin for VGG-19", {"content": png(np.zeros((2000, 1), np.uint8))}, 422, "at least"),
        ("style too flat for VGG-19", {"styles": [png(np.zeros((1, 2000), np.uint8))]}, 422, "Style image 1"),
    ]


def test_bad_requests_get_a_clear_4xx_and_lose_no_other_job(start_engine, photos):
    engine = start_engine("--max-queue", "1", "--max-body-mb", "1", "--max-image-pixels", "1000000",
                          "--max-request-pixels", "3000000")
    running = block_queue(engine, photos)
    for name, arguments, want_status, want_text in _cases(photos):
        settings = arguments.pop("settings", FAST)
        status, body = submit(engine, photos, settings, **arguments)
        assert (status, want_text in body.get("error", "")) == (want_status, True), (name, body)
        assert health(engine)["running"], name  # alive, and the running job was not disturbed
    status, queued = submit(engine, photos, {**FAST, "output": "content"})
    assert status == 202
    status, body = submit(engine, photos)
    assert status == 429 and "queue is full" in body["error"]
    unblock(engine, running)
    assert events(engine, queued["id"])[-1]["type"] == "done"
    status, headers, _ = call(engine, "GET", f"/jobs/{queued['id']}/result")
    assert status == 200 and (headers["x-width"], headers["x-height"]) == ("451", "300")


def test_the_thin_content_message_names_the_smallest_size_that_works(start_engine, photos):
    engine = start_engine()
    status, body = submit(engine, photos, {**FAST, "size": 512}, content=png(np.zeros((2000, 40), np.uint8)))
    # 40x2000 works at 10x512; conv5_1 sits behind four poolings, so it needs 16 px: 61 of 2000 px round to 16.
    assert status == 422 and "conv5_1" in body["error"] and "at least 61 px" in body["error"], body
    assert submit(engine, photos, {**FAST, "size": 512}, content=png(np.zeros((2000, 60), np.uint8)))[0] == 422
    status, job = submit(engine, photos, {**FAST, "size": 512, "iterations": 1},
                         content=png(np.zeros((2000, 61), np.uint8)))
    assert status == 202 and events(engine, job["id"])[-1]["type"] == "done"


@pytest.mark.parametrize("size", [(65536, 976), (976, 65536), (60000, 500)])
def test_the_thin_content_advice_never_names_a_size_over_the_engines_limits(size):
    """65536x976 was advised a short side of 3968 px: 260 million pixels, four times the limit."""
    import re

    from nst_engine.errors import ServiceError
    from nst_engine.pictures.images import DEFAULT_MAX_PIXELS
    from nst_engine.service.limits import check_fits_network
    from nst_engine.settings import MAX_SIDE, Settings

    with pytest.raises(ServiceError) as refused:
        check_fits_network(size, [], Settings(), DEFAULT_MAX_PIXELS)
    message = refused.value.message
    crop = re.search(r"crop it to at most (\d+)x(\d+) px", message)
    assert crop and "short side at least" not in message, message
    advised = (int(crop[1]), int(crop[2]))
    assert advised[0] * advised[1] <= DEFAULT_MAX_PIXELS and max(advised) <= MAX_SIDE, message
    assert min(advised) == min(size) and (advised[0] >= advised[1]) == (size[0] >= size[1]), message
    check_fits_network(advised, [], Settings(), DEFAULT_MAX_PIXELS)  # the advice works
    # Where a taller picture is within the limits, that is the advice, and it works too.
    with pytest.raises(ServiceError) as refused:
        check_fits_network((8000, 60), [], Settings(), DEFAULT_MAX_PIXELS)
    taller = int(re.search(r"short side at least (\d+) px", refused.value.message)[1])
    check_fits_network((8000, taller), [], Settings(), DEFAULT_MAX_PIXELS)


def test_routing_and_validation_errors_are_json_errors(start_engine):
    engine = start_engine()
    for method, path, status, text in [
        ("GET", "/no-such-thing", 404, "/docs"),
        ("PUT", "/jobs", 405, "not allowed"),
        ("GET", "/jobs/x/result?format=jpeg", 422, "format"),  # FastAPI's own validation
    ]:
        answer_status, answer = json_call(engine, method, path)
        assert (answer_status, text in answer.get("error", "")) == (status, True), answer
        health(engine)


def _raw_request(engine, head: str, body: bytes = b"", timeout: float = 30) -> bytes:
    with raw_socket(engine, timeout) as sock:
        sock.sendall(head.replace("TOKEN", engine.token).encode() + body)
        return read_until_closed(sock, time.monotonic() + timeout)


def test_framing_conflicts_and_missing_length_are_refused(start_engine):
    engine = start_engine()
    both = _raw_request(engine, "POST /jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer TOKEN\r\nContent-Length: 5\r\n"
                                "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n", b"0\r\n\r\n")
    assert both.startswith(b"HTTP/1.1 400"), both[:200]
    chunked = _raw_request(engine, "POST /jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer TOKEN\r\n"
                                   "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n", b"0\r\n\r\n")
    assert chunked.startswith(b"HTTP/1.1 411") and b"Content-Length" in chunked, chunked[:300]
    health(engine)


def test_slow_headers_and_stalled_bodies_are_dropped(start_engine, photos):
    engine = start_engine("--header-timeout", "1", "--body-timeout", "1")
    # What is checked is that the engine cuts them off, not how fast: no bound on a duration, which a slow,
    # busy machine could break. The trickle alone would take 46 s; the engine's timeouts are 1 s.
    with raw_socket(engine) as slow:  # trickles one header byte every 0.2 s: never finishes in time
        answer = b""
        for byte in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200:
            try:
                slow.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            slow.settimeout(0.2)
            try:
                answer = slow.recv(4096)
            except TimeoutError:
                continue
            break
        else:
            pytest.fail("the engine read a header trickled over 46 s to its end: it never cut the slow client off")
        assert answer.startswith(b"HTTP/1.1 408") or answer == b"", answer
    with raw_socket(engine) as stalled:  # promises 1000 bytes, sends 10, then nothing
        stalled.sendall(f"POST /jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {engine.token}\r\n"
                        "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000\r\n\r\n".encode()
                        + b"--b\r\nConte")
        read_until_closed(stalled, time.monotonic() + 120)  # fails if still open then (the timeout is 1 s)
    status, job = submit(engine, photos)
    assert status == 202 and events(engine, job["id"])[-1]["type"] == "done"

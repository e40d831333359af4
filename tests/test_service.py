"""`nst-engine serve` as a real process on loopback: jobs, queueing, cancelling, and bad input."""

from __future__ import annotations

import http.client
import io
import json
import os
import socket
import struct
import subprocess
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
SLOW = {"size": 64, "iterations": 400, "scales": 1}


def call(engine, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
         token: str | None = "default") -> tuple[int, dict, bytes]:
    parsed = urllib.parse.urlsplit(engine.url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["Authorization"] = f"Bearer {engine.token if token == 'default' else token}"
    connection.request(method, path, body=body, headers=all_headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, dict(response.getheaders()), data


def submit(engine, photos, settings=FAST, content: bytes | None = None, styles: list[bytes] | None = None,
           extra: list | None = None, token: str | None = "default") -> tuple[int, dict]:
    fields = [("settings", json.dumps(settings), None)]
    fields.append(("content", content if content is not None else photos["chelsea"].read_bytes(), "c.jpg"))
    for index, data in enumerate(styles if styles is not None else [photos["ihc"].read_bytes()]):
        fields.append(("style", data, f"s{index}.jpg"))
    fields += extra or []
    body, content_type = _multipart(fields)
    status, _, data = call(engine, "POST", "/jobs", body, {"Content-Type": content_type}, token=token)
    return status, json.loads(data)


def events(engine, job_id: str) -> list[dict]:
    status, _, data = call(engine, "GET", f"/jobs/{job_id}/events")
    assert status == 200
    return [e for e in map(json.loads, data.decode().splitlines()) if e["type"] != "heartbeat"]


def wait_state(engine, job_id: str, states: tuple[str, ...], timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, _, data = call(engine, "GET", f"/jobs/{job_id}")
        info = json.loads(data)
        if info["state"] in states:
            return info
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never reached {states}: {info}")


def test_health_needs_no_token_and_the_rest_does(start_engine, photos):
    engine = start_engine()
    status, _, data = call(engine, "GET", "/health", token=None)
    health = json.loads(data)
    assert status == 200 and health["status"] == "ok" and health["device"] == "cpu"
    assert health["weights"]["present"] and health["queue"] == 0
    assert submit(engine, photos, token=None)[0] == 401
    status, body = submit(engine, photos, token="wrong")
    assert status == 401 and "token" in body["error"]
    assert call(engine, "GET", "/jobs/nope", token="wrong")[0] == 401
    assert call(engine, "GET", "/jobs/nope", token="wr\u00f6ng")[0] == 401  # not ASCII: still a plain refusal
    assert call(engine, "GET", "/jobs/nope")[0] == 404
    assert json.loads(call(engine, "GET", "/openapi.json")[2])["info"]["title"] == "nst-engine"


def test_a_full_job_gives_16_bit_png_and_raw_float(start_engine, photos):
    engine = start_engine()
    buffer = io.BytesIO()
    Image.fromarray(np.full((30, 40), 50000, np.uint16)).save(buffer, "PNG")  # 16-bit gray content
    status, job = submit(engine, photos, {**FAST, "output": "content"}, content=buffer.getvalue(),
                         extra=[("preview", "true", None)])
    assert status == 202 and job["position"] == 0
    seen = events(engine, job["id"])
    kinds = [e["type"] for e in seen]
    assert kinds[0] == "queued" and "started" in kinds and kinds[-1] == "done"
    progress = [e for e in seen if e["type"] == "progress"]
    assert [e["iteration"] for e in progress] == [1, 2]
    assert "preview" in progress[-1] and set(progress[0]["losses"]) == {"content", "style", "tv", "total"}
    status, headers, png = call(engine, "GET", f"/jobs/{job['id']}/result")
    assert status == 200 and headers["x-width"] == "40"
    with Image.open(io.BytesIO(png)) as image:
        assert image.size == (40, 30) and image.mode.startswith("I;16")  # gray stays gray, 16 bits
    status, headers, raw = call(engine, "GET", f"/jobs/{job['id']}/result?format=raw-f32")
    assert status == 200 and len(raw) == 40 * 30 * 4 * 4 and headers["x-sample-format"] == "f32"
    rgba = np.frombuffer(raw, "<f4").reshape(30, 40, 4)
    assert np.all(rgba[..., 3] == 1.0) and np.allclose(rgba[..., 0], rgba[..., 1], atol=1e-6)


def test_jobs_queue_in_arrival_order(start_engine, photos):
    engine = start_engine()
    _, first = submit(engine, photos, {**FAST, "iterations": 12})
    _, second = submit(engine, photos)
    _, third = submit(engine, photos)
    assert (second["position"], third["position"]) == (1, 2)
    seen = []
    for event in events(engine, third["id"]):
        seen.append(event)
        if event["type"] == "started":
            for earlier in (first, second):
                assert json.loads(call(engine, "GET", f"/jobs/{earlier['id']}")[2])["state"] == "done"
    positions = [e["position"] for e in seen if e["type"] == "queued"]
    assert positions == [2, 1] and seen[-1]["type"] == "done"


def test_cancel_and_stop_and_keep(start_engine, photos):
    engine = start_engine()
    _, running = submit(engine, photos, SLOW)
    _, waiting = submit(engine, photos, SLOW)
    wait_state(engine, running["id"], ("running",))
    status, _, data = call(engine, "DELETE", f"/jobs/{waiting['id']}")
    assert status == 200 and json.loads(data)["state"] == "cancelled"
    call(engine, "DELETE", f"/jobs/{running['id']}")
    assert events(engine, running["id"])[-1]["type"] == "cancelled"
    _, kept = submit(engine, photos, SLOW)
    wait_state(engine, kept["id"], ("running",))
    call(engine, "POST", f"/jobs/{kept['id']}/stop")
    done = events(engine, kept["id"])[-1]
    assert done["type"] == "done" and done["stopped_early"]
    assert call(engine, "GET", f"/jobs/{kept['id']}/result")[0] == 200


def test_a_client_that_disconnects_has_its_job_cancelled(start_engine, photos):
    engine = start_engine()
    _, job = submit(engine, photos, SLOW)
    parsed = urllib.parse.urlsplit(engine.url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=30) as sock:
        sock.sendall(f"GET /jobs/{job['id']}/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {engine.token}"
                     "\r\n\r\n".encode())
        received = b""
        while b'"progress"' not in received:
            received += sock.recv(4096)
    info = wait_state(engine, job["id"], ("cancelled", "done"), timeout=30)
    assert info["state"] == "cancelled"
    _, after = submit(engine, photos)
    assert events(engine, after["id"])[-1]["type"] == "done"


def _png_claiming(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_bad_input_gets_a_clear_4xx_and_loses_no_other_job(start_engine, photos):
    engine = start_engine("--max-queue", "1", "--max-body-mb", "1", "--max-pixels", "1000000")
    _, running = submit(engine, photos, {**FAST, "iterations": 40})
    wait_state(engine, running["id"], ("running",))
    _, queued = submit(engine, photos)

    cases = [
        (submit(engine, photos, content=b"this is not a picture"), 400, "not an image"),
        (submit(engine, photos, styles=[b"\x89PNG\r\n\x1a\n broken"]), 400, "style image 1"),
        (submit(engine, photos, content=_png_claiming(100_000, 100_000)), 413, "more than the limit"),
        (submit(engine, photos, content=os.urandom(2 * 2**20)), 413, "MB"),
        (submit(engine, photos, {"size": 48, "colour": "red"}), 422, "Unknown setting"),
        (submit(engine, photos, {"iterations": -1}), 422, "iterations"),
        (submit(engine, photos, styles=[]), 400, "style"),
        (submit(engine, photos, extra=[("content_format", "raw", None), ("width", "9", None),
                                       ("height", "9", None), ("sample_format", "u16", None)]), 400, "raw image"),
        (submit(engine, photos), 429, "queue is full"),
    ]
    for (status, body), want_status, want_text in cases:
        assert status == want_status, body
        assert want_text in body["error"], body
    for job in (running, queued):
        assert events(engine, job["id"])[-1]["type"] == "done"
    assert json.loads(call(engine, "GET", "/health", token=None)[2])["status"] == "ok"


def test_out_of_memory_names_a_size_that_fits_and_the_next_job_runs(start_engine, photos):
    engine = start_engine()
    _, huge = submit(engine, photos, {"size": 16384, "on_oom": "refuse", "iterations": 1})
    error = events(engine, huge["id"])[-1]
    assert error["type"] == "error" and error["kind"] == "out_of_memory"
    assert error["suggested_size"] < 16384 and f"at most {error['suggested_size']} px" in error["message"]
    _, after = submit(engine, photos)
    assert events(engine, after["id"])[-1]["type"] == "done"


def test_state_file_single_instance_and_cleanup(start_engine, tmp_path):
    home = tmp_path / "shared-home"
    engine = start_engine(home=home)
    state = json.loads(engine.state_file.read_text())
    assert state["url"] == engine.url and state["pid"] == engine.process.pid
    assert engine.state_file.stat().st_mode & 0o777 == 0o600
    second = subprocess.run(
        [sys.executable, "-m", "nst_engine", "serve", "--port", "0"], capture_output=True, text=True, timeout=60,
        env={**os.environ, "NST_ENGINE_HOME": str(home)},
    )
    assert second.returncode == 2 and f"already serving at {engine.url}" in second.stderr
    assert engine.stop() == 0
    assert not engine.state_file.exists()


def test_idle_timeout_stops_the_engine(start_engine):
    engine = start_engine("--idle-timeout", "1")
    assert engine.process.wait(timeout=60) == 0
    assert not engine.state_file.exists()


def test_other_hosts_than_loopback_warn_and_still_need_the_token(start_engine, photos):
    engine = start_engine("--host", "127.0.0.2")
    assert "WARNING" in engine.log.read_text()
    assert submit(engine, photos, token=None)[0] == 401


def test_jobs_from_two_clients_at_once(start_engine, photos):
    engine = start_engine()
    results: dict[int, list] = {}

    def client(index: int) -> None:
        status, job = submit(engine, photos)
        results[index] = [status, events(engine, job["id"])[-1]["type"], job["position"]]

    threads = [threading.Thread(target=client, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert [r[:2] for r in results.values()] == [[202, "done"], [202, "done"]]
    assert sorted(r[2] for r in results.values()) == [0, 1]  # whichever came second waited behind the first


def _line_containing(stream, text: str, timeout: float) -> str | None:
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


def test_an_engine_waits_while_another_holds_the_instance_lock(tmp_path, synthetic_weights_file):
    """Two engines started at the same moment both pass the state-file check; the lock makes one wait."""
    import fcntl

    home = tmp_path / "home"
    state_file = home / "cache" / "server.json"
    state_file.parent.mkdir(parents=True)
    env = {**os.environ, "NST_ENGINE_HOME": str(home), "OMP_NUM_THREADS": "1"}
    with open(state_file.with_name("server.json.lock"), "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)  # as an engine that is still starting holds it
        process = subprocess.Popen(
            [sys.executable, "-m", "nst_engine", "serve", "--port", "0", "--weights", str(synthetic_weights_file)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        try:
            assert _line_containing(process.stderr, "waiting up to", timeout=120), "it did not wait for the lock"
            assert not state_file.exists() and process.poll() is None
        except BaseException:
            process.kill()
            raise
    try:  # the lock is free: it serves
        state = json.loads(process.stdout.readline())
        assert state["pid"] == process.pid and json.loads(state_file.read_text()) == state
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert not state_file.exists()


def test_only_the_last_few_results_are_kept(start_engine, photos):
    from nst_engine.service import KEPT_RESULTS

    engine = start_engine()
    tiny = {"size": 32, "iterations": 1, "scales": 1}
    jobs = [submit(engine, photos, tiny)[1] for _ in range(KEPT_RESULTS + 1)]
    for job in jobs:
        assert events(engine, job["id"])[-1]["type"] == "done"
    status, _, data = call(engine, "GET", f"/jobs/{jobs[0]['id']}/result")
    assert status == 410 and "dropped" in json.loads(data)["error"]
    assert call(engine, "GET", f"/jobs/{jobs[-1]['id']}/result")[0] == 200

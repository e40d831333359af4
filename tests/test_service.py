"""`nst-engine serve` as a real process on loopback: jobs, queueing, cancelling, limits and instance rules.

Jobs that must wait sit behind a job that only ends when the test cancels it, so no test depends on
how fast the machine is; engines run with `--device cpu` where a test looks at the device.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from PIL import Image
from service_helpers import (
    FAST,
    block_queue,
    call,
    events,
    health,
    json_call,
    png,
    submit,
    unblock,
    wait_state,
)


def test_health_shows_only_status_without_the_token_and_the_rest_needs_it(start_engine, photos):
    engine = start_engine("--device", "cpu")
    status, open_health = json_call(engine, "GET", "/health", token=None)
    assert status == 200 and set(open_health) == {"status", "version"}
    full = health(engine)
    assert full["device"] == "cpu" and full["weights"]["present"] and full["queue"] == 0
    assert full["limits"]["max_queue"] == 8
    assert submit(engine, photos, token=None)[0] == 401
    status, body = submit(engine, photos, token="wrong")
    assert status == 401 and "token" in body["error"]
    assert call(engine, "GET", "/jobs/nope", token="wrong")[0] == 401
    assert call(engine, "GET", "/jobs/nope", token="wr\u00f6ng")[0] == 401  # not ASCII: still a plain refusal
    assert json_call(engine, "GET", "/jobs/nope")[0] == 404
    assert json.loads(call(engine, "GET", "/openapi.json", token=None)[2])["info"]["title"] == "nst-engine"


def test_a_full_job_gives_16_bit_png_and_raw_float_and_reports_what_it_received(start_engine, photos):
    engine = start_engine("--device", "cpu")
    content = png(np.full((30, 40), 50000, np.uint16))  # 16-bit gray content
    status, job = submit(engine, photos, {**FAST, "output": "content"}, content=content,
                         extra=[("preview", "true", None)])
    assert status == 202 and job["position"] == 0 and len(job["id"]) >= 22  # >= 128 random bits
    seen = events(engine, job["id"])
    kinds = [e["type"] for e in seen]
    assert kinds[0] == "queued" and "started" in kinds and kinds[-1] == "done"
    received = {"content": {"width": 40, "height": 30, "sample": "u16", "channels": 1}}
    assert seen[kinds.index("started")]["received"] == received
    assert json_call(engine, "GET", f"/jobs/{job['id']}")[1]["received"] == received
    assert seen[-1]["device"] == "cpu"
    progress = [e for e in seen if e["type"] == "progress"]
    assert [e["iteration"] for e in progress] == [1, 2]
    assert "preview" in progress[-1] and set(progress[0]["losses"]) == {"content", "style", "tv", "total"}
    status, headers, data = call(engine, "GET", f"/jobs/{job['id']}/result")
    assert status == 200 and headers["x-width"] == "40"
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (40, 30) and image.mode.startswith("I;16")  # gray stays gray, 16 bits
    status, headers, raw = call(engine, "GET", f"/jobs/{job['id']}/result?format=raw-f32")
    assert status == 200 and len(raw) == 40 * 30 * 4 * 4 and headers["x-sample-format"] == "f32"
    rgba = np.frombuffer(raw, "<f4").reshape(30, 40, 4)
    assert np.all(rgba[..., 3] == 1.0) and np.allclose(rgba[..., 0], rgba[..., 1], atol=1e-6)


def test_raw_float_input_is_reported_as_received(start_engine, photos):
    engine = start_engine()
    pixels = np.random.default_rng(0).random((20, 24, 3), dtype=np.float32).astype("<f4").tobytes()
    status, job = submit(engine, photos, {**FAST, "output": "content"}, fields=[
        ("settings", json.dumps({**FAST, "output": "content"}), None), ("content", pixels, "c.raw"),
        ("content_format", "raw", None), ("width", "24", None), ("height", "20", None),
        ("sample_format", "f32", None), ("channels", "3", None), ("style", photos["ihc"].read_bytes(), "s.jpg"),
    ])
    assert status == 202, job
    started = next(e for e in events(engine, job["id"]) if e["type"] == "started")
    assert started["received"] == {"content": {"width": 24, "height": 20, "sample": "f32", "channels": 3}}


def test_jobs_queue_in_arrival_order(start_engine, photos):
    engine = start_engine()
    blocker = block_queue(engine, photos)
    _, second = submit(engine, photos)
    _, third = submit(engine, photos)
    assert (second["position"], third["position"]) == (1, 2)
    assert json_call(engine, "GET", f"/jobs/{second['id']}/result")[0] == 409  # no result yet
    unblock(engine, blocker)
    seen = events(engine, third["id"])
    positions = [e["position"] for e in seen if e["type"] == "queued"]
    assert positions == [2, 1] and seen[-1]["type"] == "done"
    assert json_call(engine, "GET", f"/jobs/{second['id']}")[1]["state"] == "done"


def test_cancel_and_stop_and_keep(start_engine, photos):
    engine = start_engine()
    running = block_queue(engine, photos)
    _, waiting = submit(engine, photos)
    before = health(engine)["reserved_pixels"]
    status, info = json_call(engine, "DELETE", f"/jobs/{waiting['id']}")
    assert status == 200 and info["state"] == "cancelled"
    assert health(engine)["reserved_pixels"] < before  # a cancelled job's pictures are freed at once
    unblock(engine, running)
    kept = block_queue(engine, photos)
    assert json_call(engine, "POST", f"/jobs/{kept['id']}/stop")[0] == 202
    done = events(engine, kept["id"])[-1]
    assert done["type"] == "done" and done["stopped_early"]
    assert call(engine, "GET", f"/jobs/{kept['id']}/result")[0] == 200
    assert health(engine)["reserved_pixels"] == 0


def test_a_client_that_disconnects_has_its_job_cancelled(start_engine, photos):
    from service_helpers import raw_socket

    engine = start_engine()
    job = block_queue(engine, photos)
    with raw_socket(engine) as sock:
        sock.sendall(f"GET /jobs/{job['id']}/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {engine.token}"
                     "\r\n\r\n".encode())
        received = b""
        deadline = time.monotonic() + 60
        while b'"progress"' not in received:
            chunk = sock.recv(4096)
            assert chunk, f"the engine closed the stream early: {received[-300:]!r}"
            assert time.monotonic() < deadline, "no progress event within 60 s"
            received += chunk
    info = wait_state(engine, job["id"], ("cancelled", "done"), timeout=30)
    assert info["state"] == "cancelled"
    _, after = submit(engine, photos)
    assert events(engine, after["id"])[-1]["type"] == "done"


def test_a_late_event_stream_gets_the_newest_preview_and_bounded_events(start_engine, photos):
    from nst_engine.service.queue import KEPT_EVENTS

    engine = start_engine()
    settings = {"size": 32, "iterations": KEPT_EVENTS + 6, "scales": 1, "optimizer": "adam"}  # one pass a step
    _, job = submit(engine, photos, settings, extra=[("preview", "true", None)])
    wait_state(engine, job["id"], ("done",), timeout=240)  # within the per-test 300 s, so its message is seen
    replay = events(engine, job["id"])
    assert replay[-1]["type"] == "done" and len(replay) == KEPT_EVENTS + 1
    progress = [e for e in replay if e["type"] == "progress"]
    assert progress[-1]["iteration"] == KEPT_EVENTS + 6 and progress[0]["iteration"] > 1  # the oldest went
    assert ["preview" in e for e in progress].count(True) == 1 and "preview" in progress[-1]


def test_out_of_memory_names_a_size_that_fits_and_the_next_job_runs(start_engine, photos):
    engine = start_engine("--memory-limit-mb", "400")  # whatever the host has, a 2048 px job cannot fit
    _, huge = submit(engine, photos, {"size": 2048, "on_oom": "refuse", "iterations": 1, "scales": 1})
    error = events(engine, huge["id"])[-1]
    assert error["type"] == "error" and error["kind"] == "out_of_memory"
    assert error["suggested_size"] < 2048 and f"at most {error['suggested_size']} px" in error["message"]
    _, after = submit(engine, photos)
    assert events(engine, after["id"])[-1]["type"] == "done"


def test_state_file_single_instance_private_files_and_cleanup(start_engine, tmp_path):
    home = tmp_path / "shared-home"
    engine = start_engine(home=home)
    state = json.loads(engine.state_file.read_text())
    assert state["url"] == engine.url and state["pid"] == engine.process.pid
    assert engine.state_file.stat().st_mode & 0o777 == 0o600
    assert engine.state_file.with_name("server.json.lock").stat().st_mode & 0o777 == 0o600
    assert engine.state_file.parent.stat().st_mode & 0o777 == 0o700
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


def test_jobs_from_two_clients_at_once(start_engine, photos):
    engine = start_engine()
    blocker = block_queue(engine, photos)
    submitted: dict[int, tuple[int, dict]] = {}

    def client(index: int) -> None:
        submitted[index] = submit(engine, photos)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(s for s, _ in submitted.values()) == [202, 202]
    assert sorted(job["position"] for _, job in submitted.values()) == [1, 2]  # both behind the running job
    unblock(engine, blocker)
    assert [events(engine, job["id"])[-1]["type"] for _, job in submitted.values()] == ["done", "done"]


def test_an_engine_waits_while_another_holds_the_instance_lock(tmp_path, synthetic_weights_file):
    """Two engines started at the same moment both pass the state-file check; the lock makes one wait."""
    import fcntl

    from service_helpers import line_containing

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
            assert line_containing(process.stderr, "waiting up to", timeout=120), "it did not wait for the lock"
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


@pytest.mark.parametrize("budget", ["count", "bytes"])
def test_only_the_last_few_results_are_kept(start_engine, photos, budget):
    from nst_engine.service.queue import KEPT_RESULTS

    tiny = {"size": 32, "iterations": 1, "scales": 1}
    if budget == "count":
        engine, count = start_engine(), KEPT_RESULTS + 1
    else:  # one 32x21 float result is about 11 KB: 0.015 MB keeps one
        engine, count = start_engine("--max-result-mb", "0.015"), 2
    jobs = [submit(engine, photos, tiny)[1] for _ in range(count)]
    for job in jobs:
        assert events(engine, job["id"])[-1]["type"] == "done"
    status, _, data = call(engine, "GET", f"/jobs/{jobs[0]['id']}/result")
    assert status == 410 and "dropped" in json.loads(data)["error"]
    assert call(engine, "GET", f"/jobs/{jobs[-1]['id']}/result")[0] == 200

"""A bounded load test on loopback: 200 mixed good and bad requests from 8 client threads.

Every good job's result must equal a reference run of the same job (same inputs, seed 0), every bad
request must get its 4xx, the engine must stay up, and its peak resident memory (VmHWM) must stay
under RSS_BOUND: with bounded queues and budgets, load costs time, not memory.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from service_helpers import call, events, health, json_call, png, png_claiming, submit

REQUESTS = 200
CLIENTS = 8
RSS_BOUND = 2 * 2**30  # bytes; an idle engine with torch and VGG-19 loaded holds well under 1 GiB
GOOD = {"size": 32, "iterations": 2, "scales": 1, "output": "content"}


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc")


def _result(engine, job_id: str) -> np.ndarray:
    status, _, data = call(engine, "GET", f"/jobs/{job_id}/result?format=raw-f32")
    assert status == 200
    return np.frombuffer(data, "<f4")


@pytest.mark.slow
@pytest.mark.timeout(1200)  # 200 requests and 50 real jobs
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads peak memory from /proc")
def test_200_mixed_requests_from_8_clients(start_engine, photos):
    engine = start_engine("--max-queue", "8", "--device", "cpu")
    content = png(np.random.default_rng(1).integers(0, 255, (24, 32, 3), np.uint8))
    style = photos["ihc"].read_bytes()
    _, reference_job = submit(engine, photos, GOOD, content=content, styles=[style])
    assert events(engine, reference_job["id"])[-1]["type"] == "done"
    reference = _result(engine, reference_job["id"])
    nan = np.full((24, 32, 4), np.nan, "<f4").tobytes()  # big enough for VGG-19: refused for the NaN alone
    bad = [  # (submit() arguments, status)
        ({"content": b"not an image"}, 400),
        ({"settings": {**GOOD, "style_blend": [float("nan")]}}, 422),
        ({"content": png_claiming(100_000, 100_000)}, 413),
        ({"content": png(np.zeros((2000, 1), np.uint8))}, 422),
        ({"token": "wrong"}, 401),
        ({"fields": [("settings", json.dumps(GOOD), None), ("content", nan, "c.raw"), ("content_format", "raw", None),
                     ("width", "32", None), ("height", "24", None), ("sample_format", "f32", None),
                     ("style", style, "s.jpg")]}, 400),
    ]
    failures: list[str] = []
    good_done = []
    counter = iter(range(REQUESTS))
    lock = threading.Lock()

    def client() -> None:
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            try:
                if index % 4 == 0:
                    status, job = submit(engine, photos, GOOD, content=content, styles=[style])
                    assert status == 202, job
                    assert events(engine, job["id"])[-1]["type"] == "done"
                    assert np.allclose(_result(engine, job["id"]), reference, atol=1e-5), "result differs"
                    good_done.append(job["id"])
                elif index % 4 == 3:
                    assert json_call(engine, "GET", f"/jobs/no-such-{index}")[0] == 404
                else:
                    arguments, want = bad[index % len(bad)]
                    arguments = dict(arguments)
                    settings = arguments.pop("settings", GOOD)
                    status, body = submit(engine, photos, settings, **arguments)
                    assert status == want and body["error"], (status, body)
            except AssertionError as error:
                with lock:
                    failures.append(f"request {index}: {error}")

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 900  # all of them within 15 minutes, inside the test's own timeout
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "clients still running after 15 minutes"
    assert failures == []
    assert len(good_done) == REQUESTS // 4
    after = health(engine)
    assert after["queue"] == 0 and after["reserved_pixels"] == 0
    peak = _peak_rss(engine.process.pid)
    assert peak < RSS_BOUND, f"peak RSS {peak / 2**20:.0f} MiB over the bound of {RSS_BOUND / 2**20:.0f} MiB"

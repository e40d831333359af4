"""Kill the engine at any moment (SIGKILL, seeded points) and lose nothing.

Rounds, each on the same engine home: start `serve`, set it to work (a stylisation, a learning job
that replaces a stored style, the first measurement of the device that writes timing.json), kill it
with SIGKILL after a seeded delay, start it again. Every time it must come back within seconds (the
dead engine's lock and state file recovered), every stored style must be whole (none half written,
none missing), timing.json must parse, and the client of the killed job must have been told that the
engine stopped; a re-run afterwards succeeds.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_helpers import FAST, call, events, json_call, submit  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gimp_plugin" / "neural_style_transfer"))
from engine_client import EngineClient, EngineClientError, EngineUnavailable, _multipart  # noqa: E402

ROUNDS = int(os.environ.get("NST_KILL_ROUNDS", "20"))
STYLE = "kept"
LEARN = {"steps": 2, "size": 64, "batch": 1, "width": "small"}
SLOW = {"size": 64, "iterations": 40, "scales": 1}  # runs a few seconds: long enough to be killed in


def _photos() -> list[tuple[str, bytes]]:
    import io

    files = []
    for index, path in enumerate(sorted((Path(__file__).parent / "data").glob("*.jpg")) * 2):
        with Image.open(path) as image:
            small = image.convert("RGB").resize((64, 64)).rotate(90 * index)
        buffer = io.BytesIO()
        small.save(buffer, "JPEG")
        files.append((f"p{index}.jpg", buffer.getvalue()))
    return files


def _learn(engine, photos: list[tuple[str, bytes]], replace: bool) -> tuple[int, dict]:
    style = (Path(__file__).parent / "data" / "hubble.jpg").read_bytes()
    fields = [("name", STYLE, None), ("options", json.dumps(LEARN), None), ("style", style, "hubble.jpg"),
              ("replace", "true" if replace else "false", None), *[("photo", d, n) for n, d in photos]]
    body, content_type = _multipart(fields)
    status, _, data = call(engine, "POST", "/styles/learn", body, {"Content-Type": content_type})
    return status, json.loads(data)


def _plan_quietly(engine) -> None:
    """POST /plan, whose first call measures the device and writes timing.json; the kill may cut it short."""
    body = json.dumps({"width": 640, "height": 480, "settings": {}}).encode()
    with contextlib.suppress(OSError, http.client.HTTPException):
        call(engine, "POST", "/plan", body, {"Content-Type": "application/json"}, timeout=120)


def _check_whole(engine, home: Path) -> None:
    """What a restart must find: the style whole and listed, timing.json readable, no hidden leftovers."""
    status, listing = json_call(engine, "GET", "/styles")
    assert status == 200, listing
    styles = {style["name"]: style for style in listing["styles"]}
    assert STYLE in styles and not styles[STYLE].get("problem"), listing
    library = home / "data" / "styles"
    assert not [p.name for p in library.iterdir() if p.name.startswith(".") and p.name.endswith(".old")]
    timing = home / "data" / "timing.json"
    if timing.exists():
        json.loads(timing.read_text())


@pytest.mark.slow
def test_killed_at_any_moment_the_engine_comes_back_with_nothing_lost(tmp_path, synthetic_weights_file,
                                                                      photos) -> None:
    from conftest import EngineProcess

    home = tmp_path / "home"
    rng = random.Random(21)
    learn_photos = _photos()
    engine = EngineProcess(home, synthetic_weights_file, "--device", "cpu")
    status, job = _learn(engine, learn_photos, replace=False)
    assert status == 202, job
    assert events(engine, job["id"], timeout=300)[-1]["type"] == "done"
    told: list[str] = []
    for round_number in range(ROUNDS):
        action = rng.choice(("stylise", "learn", "measure"))
        delay = rng.uniform(0.0, 1.5)
        client = EngineClient(engine.url, engine.token)
        if action == "stylise":
            waiting = client.submit(photos["chelsea"].read_bytes(), [photos["ihc"].read_bytes()], SLOW)
            outcome: list[BaseException | None] = []

            def wait(job=waiting, outcome=outcome) -> None:
                try:
                    job.wait()
                    outcome.append(None)
                except EngineClientError as error:
                    outcome.append(error)

            follower = threading.Thread(target=wait)
            follower.start()
        elif action == "learn":
            assert _learn(engine, learn_photos, replace=True)[0] == 202
        else:
            threading.Thread(target=_plan_quietly, args=(engine,), daemon=True).start()
        time.sleep(delay)
        os.kill(engine.process.pid, signal.SIGKILL)
        engine.process.wait(timeout=30)
        if action == "stylise":
            follower.join(timeout=60)
            assert outcome, "the client never heard the engine stop"
            if outcome[0] is not None:  # None: the job finished before the kill
                told.append(str(outcome[0]))
                said = str(outcome[0])
                assert isinstance(outcome[0], EngineUnavailable) and ("stopped" in said or "not answer" in said), said
        started = time.monotonic()
        engine = EngineProcess(home, synthetic_weights_file, "--device", "cpu")
        assert engine.healthy() and time.monotonic() - started < 60, f"round {round_number}: no restart"
        state = json.loads((home / "cache" / "server.json").read_text())
        assert state["pid"] == engine.process.pid
        _check_whole(engine, home)
    status, job = submit(engine, photos, FAST)  # a re-run after all that succeeds
    assert status == 202 and events(engine, job["id"])[-1]["type"] == "done"
    engine.stop()
    print(f"{ROUNDS} kill points; clients told the engine stopped {len(told)} times")

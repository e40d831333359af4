"""POST /frames on a real `nst-engine serve`: an animation's frames styled in order, progress per frame, a
`frame_done` event per frame, every frame fetchable (also after Stop, which keeps the frame in progress),
and refusals from the frames' headers before anything is decoded.
"""

from __future__ import annotations

import json

import numpy as np
from PIL import Image
from service_helpers import BLOCKING, FAST, call, events, health, json_call, png, submit, wait_state

from nst_engine.contract import EVENT_TYPES


def _frames(count: int, size: tuple[int, int] = (48, 40), shift: int = 2) -> list[bytes]:
    """`count` frames of a textured picture moving `shift` px a frame."""
    rng = np.random.default_rng(0)
    base = (rng.random((size[1], size[0] + shift * count, 3)) * 255).astype(np.uint8)
    return [png(np.ascontiguousarray(base[:, i * shift:i * shift + size[0]])) for i in range(count)]


def submit_frames(engine, photos, frames: list[bytes], settings=FAST, temporal=None, styles=True,
                  extra: list | None = None) -> tuple[int, dict]:
    from service_helpers import _multipart

    fields = [("settings", json.dumps(settings), None)]
    if temporal is not None:
        fields.append(("temporal", json.dumps(temporal), None))
    fields += [("frame", data, f"f{i}.png") for i, data in enumerate(frames, start=1)]
    if styles:
        fields.append(("style", photos["ihc"].read_bytes(), "s.jpg"))
    fields += extra or []
    body, content_type = _multipart(fields)
    status, _, data = call(engine, "POST", "/frames", body, {"Content-Type": content_type})
    return status, json.loads(data)


def test_an_animation_reports_each_frame_and_every_frame_is_fetchable(start_engine, photos):
    assert "frame_done" in EVENT_TYPES
    engine = start_engine("--device", "cpu")
    status, job = submit_frames(engine, photos, _frames(3), temporal={"strength": 1.0, "long_term": 2})
    assert status == 202 and job["frames"] == 3 and job["position"] == 0
    seen = events(engine, job["id"])
    kinds = [e["type"] for e in seen]
    assert kinds[-1] == "done", seen[-1]
    started = seen[kinds.index("started")]
    assert started["received"]["frames"] == 3 and started["received"]["temporal"] == {"strength": 1.0,
                                                                                     "long_term": 2}
    assert [e["frame"] for e in seen if e["type"] == "frame_done"] == [1, 2, 3]
    progress = [e for e in seen if e["type"] == "progress"]
    assert {e["frame"] for e in progress} == {1, 2, 3} and all(e["frames"] == 3 for e in progress)
    fractions = [e["fraction"] for e in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0  # over the whole animation
    # each frame's progress comes before its frame_done
    assert max(i for i, e in enumerate(seen) if e.get("frame") == 1 and e["type"] == "progress") < kinds.index(
        "frame_done")
    assert seen[-1]["frames"] == 3 and seen[-1]["frames_total"] == 3 and not seen[-1]["stopped_early"]
    pictures = []
    for index in (1, 2, 3):
        status, headers, data = call(engine, "GET", f"/jobs/{job['id']}/frames/{index}")
        assert status == 200 and headers["x-frame"] == str(index) and headers["x-frames"] == "3"
        with Image.open(__import__("io").BytesIO(data)) as image:
            assert image.size == (48, 40)
        status, headers, raw = call(engine, "GET", f"/jobs/{job['id']}/frames/{index}?format=raw-f32")
        assert status == 200 and len(raw) == 48 * 40 * 4 * 4
        pictures.append(np.frombuffer(raw, "<f4"))
    assert not np.array_equal(pictures[0], pictures[1])  # the frames are the frames, not one picture thrice
    assert call(engine, "GET", f"/jobs/{job['id']}/frames/4")[0] == 404
    assert call(engine, "GET", f"/jobs/{job['id']}/frames/0")[0] == 404
    _, plain = submit(engine, photos)
    events(engine, plain["id"])
    status, answer = json_call(engine, "GET", f"/jobs/{plain['id']}/frames/1")
    assert status == 404 and "not an animation" in answer["error"]
    assert health(engine)["reserved_pixels"] == 0


def test_stop_keeps_the_frame_in_progress_and_ends_the_animation(start_engine, photos):
    engine = start_engine("--device", "cpu")
    status, job = submit_frames(engine, photos, _frames(3), settings=BLOCKING)
    assert status == 202
    wait_state(engine, job["id"], ("running",))
    assert json_call(engine, "POST", f"/jobs/{job['id']}/stop")[0] == 202
    seen = events(engine, job["id"])
    assert seen[-1]["type"] == "done" and seen[-1]["frames"] == 1 and seen[-1]["stopped_early"]
    assert [e["frame"] for e in seen if e["type"] == "frame_done"] == [1]
    assert call(engine, "GET", f"/jobs/{job['id']}/frames/1")[0] == 200
    status, answer = json_call(engine, "GET", f"/jobs/{job['id']}/frames/2")
    assert status == 404 and "never styled" in answer["error"]


def test_frames_are_refused_from_their_headers(start_engine, photos):
    engine = start_engine("--device", "cpu", "--max-request-pixels", str(48 * 40 * 5 + 512 * 512))
    status, answer = submit_frames(engine, photos, [*_frames(2), *_frames(1, size=(40, 48))])
    assert status == 400 and "Frame 3 is 40x48" in answer["error"]
    status, answer = submit_frames(engine, photos, _frames(6))  # each frame fits, all six do not
    assert status == 413, answer
    status, answer = submit_frames(engine, photos, _frames(2), temporal={"strength": -1})
    assert status == 422 and "temporal strength" in answer["error"]
    status, answer = submit_frames(engine, photos, _frames(2), temporal={"strenght": 1})
    assert status == 422 and "strenght" in answer["error"]
    status, answer = submit_frames(engine, photos, _frames(2), styles=False)
    assert status == 400 and "learned_style" in answer["error"]
    status, answer = submit_frames(engine, photos, _frames(2), extra=[("learned_style", "nothing-here", None)])
    assert status == 400 and "not both" in answer["error"]
    status, answer = submit_frames(engine, photos, _frames(2), styles=False,
                                   extra=[("learned_style", "nothing-here", None)])
    assert status == 404 and "nothing-here" in answer["error"]
    status, answer = submit_frames(engine, photos, [])
    assert status == 400 and "frame" in answer["error"]
    assert health(engine)["reserved_pixels"] == 0

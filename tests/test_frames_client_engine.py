"""The plug-in's frames-job client (frames_client.py) against a real `nst-engine serve` (generated weights):
an animation's frames sent as the GIMP plug-in sends them, styled with a style picture and with a learned style,
each styled frame fetched back in order at the frames' size. The GIMP side is tests/test_gimp_animation.py;
this covers the learned style's path, which the real-GIMP test reaches only with a style the engine lacks."""

from __future__ import annotations

import io
import struct
import sys
from pathlib import Path

import pytest
from PIL import Image

PLUGIN = Path(__file__).resolve().parents[1] / "gimp_plugin" / "neural_style_transfer"
sys.path.insert(0, str(PLUGIN))

import animation_logic as A  # noqa: E402
import frames_client  # noqa: E402
from engine_client import EngineClient, RawImage  # noqa: E402

DATA = Path(__file__).parent / "data"
W, H = 40, 30


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, synthetic_weights_file: Path):
    from conftest import EngineProcess

    process = EngineProcess(tmp_path_factory.mktemp("frames-client-engine"), synthetic_weights_file)
    yield EngineClient(process.url, process.token)
    process.stop()


def _frames(count: int = 3) -> list[RawImage]:
    """A photo panned 4 px a frame, as the plug-in reads layers: RGBA u8 on the canvas."""
    with Image.open(DATA / "chelsea.jpg") as image:
        photo = image.convert("RGBA").resize((W + 4 * count, H))
    return [RawImage(W, H, 4, "u8", photo.crop((4 * i, 0, 4 * i + W, H)).tobytes()) for i in range(count)]


def _jpeg(path: Path, size: int = 96) -> bytes:
    with Image.open(path) as image:
        image = image.convert("RGB")
        image.thumbnail((size, size))
        out = io.BytesIO()
        image.save(out, "JPEG")
        return out.getvalue()


def _check(result: frames_client.FramesResult, sent: list[RawImage]) -> None:
    assert result.total == len(sent) and len(result.frames) == len(sent) and not result.stopped_early
    for frame in result.frames:
        assert (frame.width, frame.height, frame.sample_format) == (W, H, "f32") and len(frame.data) == W * H * 16
    first = struct.unpack(f"<{W * H * 4}f", result.frames[0].data)
    source = [v / 255 for v in sent[0].data]
    # sent back unchanged, it would differ by an 8-bit rounding at most (1/510)
    assert max(abs(a - b) for a, b in zip(first, source, strict=True)) > 0.01, "styled, not the frame sent back"
    assert result.frames[0].data != result.frames[1].data


def test_frames_with_a_style_picture_come_back_in_order(client: EngineClient) -> None:
    sent = _frames()
    settings = {"preset": "draft", "iterations": 3, "scales": 1, "output": "content"}
    events: list[dict] = []
    job = frames_client.submit_frames(client, sent, settings, A.temporal_field(1.0, 0), [_jpeg(DATA / "ihc.jpg")],
                                      ["ihc.jpg"])
    _check(job.wait(events.append), sent)
    done = [e["frame"] for e in events if e.get("type") == "frame_done"]
    assert done == [1, 2, 3]
    assert any(A.frame_words(e) == "Frame 2 of 3" for e in events if e.get("type") == "progress")


def test_frames_in_a_learned_style_come_back_in_order(client: EngineClient) -> None:
    photos = [(p.name, _jpeg(p)) for p in sorted(DATA.glob("*.jpg"))]
    photos += [(f"again-{name}", data) for name, data in photos]  # the engine needs 8
    learning = client.learn_style("frames test", _jpeg(DATA / "hubble.jpg"), photos[:8],
                                  {"steps": 3, "size": 64, "batch": 1, "width": "small"}, keep_running=False)
    assert learning.wait()["type"] == "done"
    sent = _frames()
    job = frames_client.submit_frames(client, sent, {}, A.temporal_field(1.0, 2), learned_style="frames test",
                                      strength=1.0)
    _check(job.wait(), sent)

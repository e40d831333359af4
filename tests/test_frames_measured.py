"""The animation goal, measured (issue 22): on a photograph panned and zoomed with an object crossing it (the
true motion known), steady frames flicker at most half as much as independent ones, with each frame's style
cost within 20 % of the independent frame's (not higher by more than that); and the same ratio for a learned
style. The measure itself is checked against visible flicker in tests/test_frames.py, and here against
frames restarted from noise of their own seed.

Sizes and iterations are the smallest that still show it on two busy cores (at 64 px the resampling's own
blur is half of the independent frames' flicker: there is nothing left to halve).
"""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from nst_engine.frames import compare
from nst_engine.frames.generated import panned
from nst_engine.frames.measure import drift, instability
from nst_engine.frames.temporal import Temporal
from nst_engine.learned.export import export
from nst_engine.learned.options import LearnOptions
from nst_engine.learned.runtime import open_session, stylize_picture
from nst_engine.learned.train import learn
from nst_engine.pictures.images import load_picture
from nst_engine.settings import Settings

DATA = Path(__file__).parent / "data"
SIZE = (128, 96)
FRAMES = 6
SETTINGS = Settings.from_dict({"size": 128, "iterations": 10, "scales": 1, "device": "cpu", "seed": 0})

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def crossing():
    return panned(load_picture(DATA / "coffee.jpg").rgb, FRAMES, SIZE, occluder=load_picture(DATA / "chelsea.jpg").rgb)


@pytest.fixture(scope="module")
def style():
    return load_picture(DATA / "ihc.jpg")


def test_steady_frames_flicker_half_as_much_at_the_same_style_cost(crossing, style, cache) -> None:
    independent = compare.gatys(crossing, style, SETTINGS, Temporal(strength=0), cache)
    reseeded = compare.gatys_reseeded(crossing, style, SETTINGS, cache)
    steady = compare.gatys(crossing, style, SETTINGS, Temporal(strength=1, long_term=2), cache)
    # The measure sees the flicker of frames restarted from noise (the content's own resampling scores low).
    content = instability([f.rgb for f in crossing.frames], crossing.flows, crossing.masks)
    assert reseeded.instability > 2 * content
    assert steady.instability <= 0.5 * independent.instability, (steady.instability, independent.instability)
    assert independent.style is not None and steady.style is not None
    for frame, (ours, theirs) in enumerate(zip(steady.style, independent.style, strict=True), start=1):
        assert ours <= 1.2 * theirs, f"frame {frame}: style cost {ours:.4g} against {theirs:.4g} independent"
    # No drift into blur: each frame keeps most of the independent frame's fine detail (warping the previous
    # result itself, frame after frame, had fallen to 0.48 of it by the sixth frame).
    sharp, _ = drift(steady.outputs, independent.outputs)
    assert min(sharp) >= 0.6, sharp


@pytest.fixture(scope="module")
def learned_apply(tmp_path_factory: pytest.TempPathFactory, synthetic_weights_file: Path, style):
    """A small learned style (as tests/test_learned.py makes one), applied as learned.api.apply_style does."""
    photos = tmp_path_factory.mktemp("photos")
    for path in sorted(DATA.glob("*.jpg")):
        (photos / path.name).write_bytes(path.read_bytes())
        (photos / f"again-{path.name}").write_bytes(path.read_bytes())
    options = LearnOptions(steps=15, size=64, batch=4, width="small", device="cpu", checkpoint_every=1000)
    net = learn(style, photos, options, tmp_path_factory.mktemp("ckpt") / "c.pt", synthetic_weights_file).net
    session = open_session(export(net, tmp_path_factory.mktemp("onnx") / "m.onnx").path)

    def apply(name, content, strength, progress=None, cancel=None, sessions=None):
        started = time.perf_counter()
        return SimpleNamespace(picture=stylize_picture(session, content, strength, 2048, progress, cancel),
                               seconds=time.perf_counter() - started)

    return apply


def test_a_learned_style_blended_along_the_flow_flickers_half_as_much(crossing, learned_apply) -> None:
    independent = compare.learned(crossing, learned_apply, "test", Temporal(strength=0))
    steady = compare.learned(crossing, learned_apply, "test", Temporal(strength=1))
    assert steady.instability <= 0.5 * independent.instability, (steady.instability, independent.instability)

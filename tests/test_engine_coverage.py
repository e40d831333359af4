"""stylize() paths that the other engine tests leave out: Caffe and MatConvNet weights used for a real
run (not only detected), `style_scale`, `tv_weight`, `init="noise"` and a WebP content image.

Tiny sizes and few iterations (2 CPU cores); each test compares with a baseline, so a setting that is
silently ignored fails.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from nst_engine import api
from nst_engine.gatys import optimize
from nst_engine.gatys.cache import ModelCache
from nst_engine.pictures.images import Picture, decode_picture, load_picture
from nst_engine.settings import Settings


@pytest.fixture(scope="module")
def cache(synthetic_weights_file):
    return ModelCache(synthetic_weights_file)


@pytest.fixture(scope="module")
def cat(photos) -> Picture:
    return load_picture(photos["chelsea"])


@pytest.fixture(scope="module")
def stain(photos) -> Picture:
    return load_picture(photos["ihc"])


def tiny(**overrides) -> Settings:
    values = {"size": 48, "iterations": 6, "scales": 1, "device": "cpu", "seed": 3, **overrides}
    return Settings.from_dict(values)


def total_variation(rgb: np.ndarray) -> float:
    return float(np.abs(np.diff(rgb, axis=0)).mean() + np.abs(np.diff(rgb, axis=1)).mean())


def mean_diff(a: Picture, b: Picture) -> float:
    return float(np.abs(a.rgb.astype(np.float64) - b.rgb.astype(np.float64)).mean())


@pytest.mark.parametrize("fmt", ["caffe", "matconvnet"])
def test_stylise_with_other_weight_formats(fmt, synthetic_weights, cat, stain):
    """The format is detected and a run lowers the style cost with finite losses throughout."""
    if fmt == "matconvnet":
        import scipy  # noqa: F401 - the test extra requires it (reading .mat files): missing, this fails
    cache = ModelCache(synthetic_weights(fmt))
    events: list[optimize.Progress] = []
    result = api.stylize(cat, [stain], tiny(), progress=events.append, cache=cache)
    assert cache.loaded_weights is not None and cache.loaded_weights.format.name == fmt
    assert result.picture.size == (48, 32)
    assert events and all(math.isfinite(v) for e in events for v in e.losses.values())
    assert all(math.isfinite(v) for v in result.losses.values())
    assert result.losses["style"] < events[0].losses["style"], (events[0].losses, result.losses)
    assert np.isfinite(result.picture.rgb).all()


def test_style_scale_changes_the_result(cache, cat, stain):
    base = api.stylize(cat, [stain], tiny(), cache=cache)
    again = api.stylize(cat, [stain], tiny(), cache=cache)
    scaled = api.stylize(cat, [stain], tiny(style_scale=0.4), cache=cache)
    assert mean_diff(base.picture, again.picture) < 1e-6  # same settings, same seed: same result
    assert mean_diff(base.picture, scaled.picture) > 1e-3


def test_tv_weight_smooths_the_result(cache, cat, stain):
    rough = api.stylize(cat, [stain], tiny(tv_weight=0.0, iterations=10), cache=cache)
    smooth = api.stylize(cat, [stain], tiny(tv_weight=1e4, iterations=10), cache=cache)
    assert total_variation(smooth.picture.rgb) < 0.8 * total_variation(rough.picture.rgb)
    assert "tv" not in rough.losses or rough.losses["tv"] == 0.0 or math.isfinite(rough.losses["tv"])


def test_noise_init_starts_away_from_the_content(cache, cat, stain):
    from_content = api.stylize(cat, [stain], tiny(init="content", iterations=2), cache=cache)
    from_noise = api.stylize(cat, [stain], tiny(init="noise", iterations=2), cache=cache)
    same_seed = api.stylize(cat, [stain], tiny(init="noise", iterations=2), cache=cache)
    other_seed = api.stylize(cat, [stain], tiny(init="noise", iterations=2, seed=4), cache=cache)
    assert all(math.isfinite(v) for v in from_noise.losses.values())
    assert from_noise.losses["content"] > from_content.losses["content"]
    assert mean_diff(from_noise.picture, same_seed.picture) < 1e-6
    assert mean_diff(from_noise.picture, other_seed.picture) > 1e-3


def test_webp_content_is_stylised_at_its_size(cache, cat, stain):
    buffer = io.BytesIO()
    Image.fromarray((cat.rgb * 255).round().astype(np.uint8)).resize((60, 40)).save(buffer, "WEBP", quality=90)
    webp = decode_picture(buffer.getvalue(), name="content.webp")
    assert webp.size == (60, 40)
    result = api.stylize(webp, [stain], tiny(output="content"), cache=cache)
    assert result.picture.size == (60, 40)
    assert mean_diff(result.picture, webp) > 1e-3

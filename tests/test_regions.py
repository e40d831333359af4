"""Regions (issue 20): guided Gram matrices give each part of the picture its own style, judged on the pictures
(nst_engine/pictures/region_measures.py) and checked against the unguided and untiled objectives.

The measures are first shown to fail on a picture with the defect: a whole-picture run (no regions) leaks
its style everywhere and has both styles' statistics on both sides.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nst_engine import api
from nst_engine.errors import SettingsError
from nst_engine.gatys import guides, optimize
from nst_engine.gatys.guides import Region, Regions
from nst_engine.gatys.tiled_objective import TiledObjective
from nst_engine.pictures import region_measures as measures
from nst_engine.pictures.images import Picture, from_tensor, resize_tensor, to_tensor
from nst_engine.settings import Settings

CPU = torch.device("cpu")
FP32 = optimize.make_autocast(CPU, torch.float32)
WIDTH, HEIGHT = 256, 96
EDGE, FEATHER = 112, 32  # the left region's mask is 1 up to EDGE - FEATHER, 0 from EDGE on
CONV5 = 16  # pixels a conv5_1 feature cell spans


def _picture(picture: Picture, size: tuple[int, int]) -> Picture:
    return Picture(from_tensor(resize_tensor(to_tensor(picture.rgb), size)))


@pytest.fixture(scope="module")
def scene(cache, cat, stain, photos):
    """The content, two very different styles (stained tissue; coffee in a cup) and the run's settings."""
    from nst_engine.pictures.images import load_picture

    settings = Settings.from_dict({"size": WIDTH, "scales": 1, "iterations": 12, "device": "cpu", "precision": "fp32",
                                   "seed": 1, "time_budget": 0})
    return (_picture(cat, (WIDTH, HEIGHT)), _picture(stain, (128, 128)),
            _picture(load_picture(photos["coffee"]), (128, 128)), settings)


def _feathered(edge: int, feather: int) -> np.ndarray:
    """1 left of edge - feather, 0 from edge on, a linear ramp between."""
    ramp = np.clip((edge - np.arange(WIDTH)) / feather, 0, 1).astype(np.float32)
    return np.tile(ramp, (HEIGHT, 1))


@pytest.fixture(scope="module")
def runs(cache, scene):
    """One style in a feathered left region with the photo beside it; two styles, one a half; the defect: the
    styles blended over the whole picture (the guided path's `blend`, with no mask)."""
    content, a, b, settings = scene
    left = _feathered(EDGE, FEATHER)
    halves = _feathered(WIDTH // 2 + 8, 16)
    return {
        "one": api.stylize(content, [a], settings, cache=cache, regions=Regions((Region(left, 0),), "photo")).picture,
        "two": api.stylize(content, [a, b], settings, cache=cache,
                           regions=Regions((Region(halves, 0),), rest=1)).picture,
        "whole": api.stylize(content, [a, b], settings, cache=cache, regions=Regions((), guides.BLEND)).picture,
    }


def test_each_half_has_its_own_styles_statistics(cache, scene, runs):
    content, a, b, settings = scene
    model = cache.get(settings, CPU, False)[0]
    layers = tuple(settings.style_layers)

    def of(picture: Picture, columns: slice) -> dict[str, torch.Tensor]:
        return measures.grams(model, to_tensor(picture.rgb[:, columns]), layers)

    style_a, style_b = measures.grams(model, to_tensor(a.rgb), layers), measures.grams(model, to_tensor(b.rgb), layers)
    left, right = slice(0, 96), slice(WIDTH - 96, WIDTH)
    ratios = {name: (measures.style_ratio(of(runs[name], left), style_a, style_b),
                     measures.style_ratio(of(runs[name], right), style_b, style_a)) for name in ("two", "whole")}
    print(f"distance to its own style / to the other's, (left, right): {ratios}")
    # The measure flags the defect: blended over the whole picture, a side is as near the other style as its own.
    assert max(ratios["whole"]) > measures.MAX_STYLE_RATIO
    assert max(ratios["two"]) <= measures.MAX_STYLE_RATIO


def test_the_photo_stays_and_the_style_stops_within_a_few_cells_past_its_feathered_edge(scene, runs):
    content, *_ = scene
    change = measures.column_change(runs["one"].rgb, content.rgb)
    inside = slice(0, EDGE - FEATHER - CONV5)
    width = measures.leak(change, inside, EDGE)
    defect = measures.leak(measures.column_change(runs["whole"].rgb, content.rgb), inside, EDGE)
    middle = float(change[EDGE - FEATHER // 2]) / float(np.median(change[inside]))
    far = float(change[EDGE + 4 * CONV5:].mean())
    print(f"leak past the feathered edge: {width} px ({width / CONV5:.1f} conv5_1 cells); whole picture: {defect} px; "
          f"mid-feather change {middle:.2f} of the inside's; photo region beyond 4 cells: {far:.5f}")
    assert defect == WIDTH - EDGE  # the measure flags a style everywhere
    assert width <= 3 * CONV5  # a few feature cells
    assert 0.25 < middle < 0.75  # the feather cross-fades the style
    assert far < 0.002  # the photo is the photo (a 0..1 picture's mean change: half an 8-bit level)


def test_one_region_over_everything_is_the_unguided_objective(cache, cat, stain):
    """Guided with a single full mask: exactly the seed's cost, J and gradient."""
    settings = Settings.from_dict({"device": "cpu", "precision": "fp32"})
    model = cache.get(settings, CPU, False)[0]
    content = resize_tensor(to_tensor(cat.rgb), (96, 64))
    style = resize_tensor(to_tensor(stain.rgb), (80, 80))
    plain = optimize.Objective(model, content, [(style, 1.0)], settings, 3.0, FP32)
    parts = guides.channels(Regions((), rest=0), (96, 64), CPU)
    guided = optimize.Objective(model, content, [(style, 1.0)], settings, 3.0, FP32, style_targets={},
                                guided=guides.guided_style(model, parts, [(style, 1.0)], settings.style_layers,
                                                           1 << 30, FP32))
    image = (content + 0.2 * torch.rand(content.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    x, y = image.clone().requires_grad_(True), image.clone().requires_grad_(True)
    J, _ = plain(x)
    J.backward()
    J2, _ = guided(y)
    J2.backward()
    assert float(J2.detach()) == pytest.approx(float(J.detach()), rel=1e-5)
    assert float((y.grad - x.grad).norm() / x.grad.norm()) < 1e-5


def test_guided_gram_matrices_sum_over_tiles(cache, cat, stain, photos):
    """Tiled with halos covering the image: the untiled guided J and gradient; without halos, not."""
    from nst_engine.pictures.images import load_picture

    settings = Settings.from_dict({"device": "cpu", "precision": "fp32"})
    model = cache.get(settings, CPU, False)[0]
    size = (96, 64)
    content = resize_tensor(to_tensor(cat.rgb), size)
    styles = [(resize_tensor(to_tensor(stain.rgb), (80, 80)), 0.5),
              (resize_tensor(to_tensor(load_picture(photos["hubble"]).rgb), (80, 80)), 0.5)]
    mask = np.zeros((64, 96), np.float32)
    mask[:, :40], mask[:, 40:56] = 1, np.linspace(1, 0, 16)
    regions = Regions((Region(mask, 0), Region(1 - mask, guides.BLEND, 0.5)), rest="photo")

    def guided() -> guides.GuidedStyle:
        return guides.guided_style(model, guides.channels(regions, size, CPU), styles, settings.style_layers,
                                   1 << 30, FP32)

    whole = optimize.Objective(model, content, styles, settings, 3.0, FP32, style_targets={}, guided=guided())
    image = (content + 0.2 * torch.rand(content.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    x = image.clone().requires_grad_(True)
    J, parts = whole(x)
    J.backward()
    for halo, exact in ((96, True), (0, False)):
        tiled = TiledObjective(model, content, {}, settings.content_layer, settings.style_layers,
                               optimize.cost_weights(settings, 3.0), (64, 48), FP32, CPU, halo=halo, guided=guided())
        assert len(tiled.tiles) >= 4
        y = image.clone().requires_grad_(True)
        J2, parts2 = tiled.evaluate(y)
        error = float((y.grad - x.grad).norm() / x.grad.norm())
        if exact:
            assert float(parts2["style"]) == pytest.approx(float(parts["style"].detach()), rel=1e-4)
            assert float(J2) == pytest.approx(float(J.detach()), rel=1e-4) and error < 1e-4
        else:
            assert error > 0.1  # truncated features: the check can fail


def test_a_style_mask_takes_the_statistics_of_that_part_of_the_style(cache, stain):
    settings = Settings.from_dict({"device": "cpu", "precision": "fp32"})
    model = cache.get(settings, CPU, False)[0]
    style = resize_tensor(to_tensor(stain.rgb), (128, 96))
    layers = tuple(settings.style_layers)
    left = np.zeros((96, 128), np.float32)
    left[:, :64] = 1
    masked = guides.masked_targets(model, style, left, layers, 1 << 30, FP32)
    whole = guides.masked_targets(model, style, None, layers, 1 << 30, FP32)
    crop = measures.grams(model, style[..., :64], layers)
    # Nearer the left half's own statistics than the whole picture's are; not equal to them, as the cells near the
    # cut see the right half through their receptive fields (measured: 0.047 against 0.092).
    assert measures.gram_distance(masked, crop) < 0.7 * measures.gram_distance(whole, crop)
    with pytest.raises(SettingsError, match="selects nothing"):
        guides.masked_targets(model, style, np.zeros_like(left), layers, 1 << 30, FP32)


@pytest.mark.parametrize("regions, text", [
    (Regions((Region(np.ones((4, 4)), 2),)), "region 1 asks for style 3"),
    (Regions((Region(np.ones((4, 4)), 0, float("nan")),)), "region 1 has the weight nan"),
    (Regions((), rest=-1), "the rest asks for style 0"),
    (Regions((Region(np.ones((4, 4)), "sky"),)), "region 1 asks for style 'sky'"),
])
def test_regions_that_cannot_run_are_refused_before_the_work(cat, stain, regions, text):
    with pytest.raises(SettingsError, match=text):
        api.stylize(cat, [stain, stain], Settings.from_dict({"device": "cpu"}), regions=regions)


def test_a_guided_run_in_tiles_is_the_untiled_picture_with_colours_kept_and_a_blend(cache, cat, stain, photos):
    """Two styles blended in one region, one style in the other, the content's colours kept: in tiles as whole,
    judged by issue 17's picture measures (pictures/agreement.py)."""
    from nst_engine.gatys import tiling
    from nst_engine.pictures import agreement as limits
    from nst_engine.pictures.agreement import agreement
    from nst_engine.pictures.images import load_picture

    side, tile = 384, 256
    settings = Settings.from_dict({"size": side, "scales": 1, "iterations": 6, "device": "cpu", "precision": "fp32",
                                   "seed": 1, "time_budget": 0, "preserve_colors": True})
    content = _picture(cat, (side, 256))
    styles = [stain, load_picture(photos["coffee"])]
    mask = np.tile(np.clip((200 - np.arange(side)) / 32, 0, 1).astype(np.float32), (256, 1))
    regions = Regions((Region(mask, guides.BLEND),), rest=1)
    whole = api.stylize(content, styles, settings, cache=cache, regions=regions)
    tiled = api.stylize(content, styles, settings.replace(tile_size=tile), cache=cache, regions=regions)
    assert whole.plan.steps[-1].tile is None and tiled.plan.steps[-1].tiles > 1
    measured = agreement(tiled.picture.rgb, whole.picture.rgb, content.rgb, tiling.edges(side, tile),
                         tiling.edges(256, tile), block=64)
    print(f"guided, tiled vs untiled: {measured}")
    # No seams, no block tones: issue 17's limits. The mean difference is larger than issue 17's limit at 768 px
    # in 512-px tiles: here the tiles are small (2 of 256 px: more of the picture near a halo's end) and the
    # regions weigh each style by its area, which the truncated conv5_1 features feel more. Measured: 0.16;
    # the same run without regions 0.100.
    assert measured.change_ratio <= 0.2, measured
    assert measured.tone_spread <= 1.0, measured
    assert measured.edge_ratio <= limits.MAX_EDGE_RATIO, measured

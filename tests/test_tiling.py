"""Tiled scales (issue 17): one whole-image optimisation evaluated tile by tile, judged on the pictures."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from nst_engine import api
from nst_engine.gatys import costs, optimize, tiled_objective, tiling
from nst_engine.gatys.tiled_objective import TiledObjective
from nst_engine.pictures import agreement as agreement_limits
from nst_engine.pictures.agreement import agreement
from nst_engine.pictures.images import Picture, load_picture, resize_tensor, save_picture, to_tensor
from nst_engine.planning import plan
from nst_engine.settings import Settings

GIB = 2**30
CPU = torch.device("cpu")
FP32 = optimize.make_autocast(CPU, torch.float32)


@pytest.mark.parametrize("length, tile", [(512, 256), (341, 256), (1230, 500), (4096, 768), (260, 256), (2000, 192)])
def test_cores_partition_the_image_on_multiples_of_16_and_regions_fit_the_tile(length, tile):
    spans = tiling.cores(length, tile)
    assert spans[0][0] == 0 and spans[-1][1] == length and len(spans) > 1
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))  # a partition
    assert all(start % 16 == 0 for start, _ in spans)
    for tile_ in tiling.layout((length, 100), (tile, 100)):
        (a, b), (x0, x1) = tile_.core_x, tile_.x
        assert x0 == max(0, a - tiling.HALO) and x1 == min(length, b + tiling.HALO) and x1 - x0 <= tile
        assert x0 % 16 == 0
    assert tiling.layout((length, 100), (length, 100))[0].x == (0, length)  # one tile: no halo


@pytest.mark.parametrize("length, tile, count, widest", [(256, 192, 2, 176), (768, 448, 2, 432), (768, 192, 8, 192),
                                                         (2048, 1024, 3, 784), (1365, 1024, 2, 736)])
def test_layouts_take_the_fewest_cores_whose_regions_fit(length, tile, count, widest):
    """The end regions have a halo on one side only: 768 px fit 2 regions of 432 where 3 cores of 352 once ran."""
    assert len(tiling.cores(length, tile, halo=48)) == count
    assert tiling.region_size((length, length), (tile, tile), halo=48) == (widest, widest)


def test_the_exact_halo_follows_the_padding_through_vgg19():
    assert [tiling.exact_halo([name]) for name in ("conv1_2", "conv3_1", "conv4_2", "conv5_1")] == [16, 16, 48, 80]
    # The content layer's features are exact; conv5_1's nearly (tiling.py: the measured trade).
    assert tiling.exact_halo(["conv4_2", "conv3_1"]) <= tiling.HALO < tiling.exact_halo(["conv5_1"])


def _model(cache):
    settings = Settings.from_dict({"device": "cpu", "precision": "fp32"})
    return cache.get(settings, CPU, False)[0], settings


def test_with_halos_covering_the_image_the_tiled_objective_is_the_whole_one(cache, cat, stain):
    """Exact up to summation order: the same J, terms and gradient as optimize.Objective."""
    model, settings = _model(cache)
    content = resize_tensor(to_tensor(cat.rgb), (96, 64))
    style = resize_tensor(to_tensor(stain.rgb), (80, 80))
    whole = optimize.Objective(model, content, [(style, 1.0)], settings, 3.0, FP32)
    image = (content + 0.2 * torch.rand(content.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    x = image.clone().requires_grad_(True)
    J, parts = whole(x)
    J.backward()
    weights = optimize.cost_weights(settings, 3.0)
    for halo, exact in ((96, True), (0, False)):
        tiled = TiledObjective(model, content, whole.style_targets, settings.content_layer, settings.style_layers,
                               weights, (64, 48), FP32, CPU, halo=halo)
        assert len(tiled.tiles) >= 4
        y = image.clone().requires_grad_(True)
        J2, parts2 = tiled.evaluate(y)
        error = float((y.grad - x.grad).norm() / x.grad.norm())
        if exact:
            for name in ("content", "style", "tv", "total"):
                assert float(parts2[name]) == pytest.approx(float(parts[name].detach()), rel=1e-4), name
            assert error < 1e-4
            assert tiled.losses(image)["total"] == pytest.approx(float(J.detach()), rel=1e-4)
        else:
            assert error > 0.1  # without halos the cores' features are truncated: the check can fail


def test_style_targets_in_chunks_match_the_whole_image(cache, stain):
    model, settings = _model(cache)
    style = resize_tensor(to_tensor(stain.rgb), (384, 256))
    with torch.no_grad():
        whole = costs.style_targets([(model(style), 1.0)], settings.style_layers)
    same = tiled_objective.style_targets(model, [(style, 1.0)], settings.style_layers, 1024, FP32)
    chunked = tiled_objective.style_targets(model, [(style, 1.0)], settings.style_layers, 192, FP32)
    for name in settings.style_layers:
        torch.testing.assert_close(same[name], whole[name], rtol=1e-4, atol=1e-6)
        error = float((chunked[name] - whole[name]).norm() / whole[name].norm())
        assert error < 0.1, (name, error)  # only the receptive fields cut at the halos' ends differ


def test_tile_size_forces_tiles_and_progress_tells_tiles_and_fraction(cache, cat, stain):
    settings = Settings.from_dict({"size": 320, "iterations": 2, "coarse_iterations": 1, "scales": 2,
                                   "device": "cpu", "precision": "fp32", "tile_size": 192})
    events: list[optimize.Progress] = []
    result = api.stylize(cat, [stain], settings, progress=events.append, cache=cache)
    final = result.plan.steps[-1]
    n = final.tiles
    assert final.tile == (192, 192) and n == len(tiling.layout(final.size, final.tile)) > 4
    tiles = tiling.layout(final.size, final.tile)
    assert final.region == (max(t.x[1] - t.x[0] for t in tiles), max(t.y[1] - t.y[0] for t in tiles))
    assert result.plan.steps[0].tile is None  # 160 px: no tiles needed
    assert result.message == (
        "Tiled as tile_size 192 asks. "
        f"Computed at 320x213 (coarse to fine: 160x106, 320x213 (in {n} tiles of up to "
        f"{final.region[0]}x{final.region[1]}))."
    )
    assert result.picture.size == (320, 213) and np.isfinite(result.picture.rgb).all()
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0) and fractions[0] > 0
    tiled = [e for e in events if e.scale == 2]
    # One step per whole-image iteration; within the second, each tile's progress (the first has no losses yet).
    assert [(e.tile, e.tiles, e.iteration, e.step) for e in tiled] == [
        (n, n, 1, 2), *((i, n, 2, 2) for i in range(1, n)), (n, n, 2, 3)]
    assert tiled[-1].step == tiled[-1].total_steps == 1 + 2
    assert final.pixel_iterations == round(2 * tiling.evaluation_work(final.size, final.tile))


def test_stop_between_tiles_keeps_the_last_finished_iteration(cache, cat, stain):
    settings = Settings.from_dict({"size": 256, "iterations": 1, "scales": 1, "device": "cpu", "precision": "fp32",
                                   "tile_size": 192, "seed": 3})
    one = api.stylize(cat, [stain], settings, cache=cache)
    stop = threading.Event()

    def on_progress(event: optimize.Progress) -> None:
        if event.iteration == 2 and event.tile < event.tiles:
            stop.set()  # mid-way through the second iteration's tiles

    stopped = api.stylize(cat, [stain], settings.replace(iterations=3), cache=cache, progress=on_progress, stop=stop)
    assert stop.is_set() and stopped.plan.steps[-1].tiles > 1
    np.testing.assert_array_equal(stopped.picture.rgb, one.picture.rgb)


def test_the_estimates_count_halos_and_the_gram_pass():
    size, tile = (1024, 768), (384, 384)
    tiles = tiling.layout(size, tile)
    regions = sum(t.pixels for t in tiles)
    assert regions > size[0] * size[1]  # halos add area
    step = plan.tiled_step(size, 10, 384)
    assert step.pixel_iterations == round(10 * (regions * (1 + tiling.FORWARD_SHARE)
                                                - tiling.FORWARD_SHARE * tiles[-1].pixels))
    assert optimize.total_steps(plan.Plan(size, [step], 4)) == 10


@pytest.fixture(scope="module")
def astronaut(photos) -> Picture:
    return load_picture(photos["astronaut"])


@pytest.mark.timeout(1200)
def test_tiled_pictures_are_the_untiled_picture(cache, astronaut, stain, tmp_path_factory):
    """768x768 in the smallest tiles (tiling.MIN_TILE: 4 regions of 448 with HALO-px halos) against the
    same run whole, 6 iterations: issue 17's limits, on the pictures.

    Measured: see tiling.py's docstring (the difference comes from the halo: 1 thread against 2 alone
    differs by 0.02 of the style's change at 256 px, 80-px halos by 0.04).
    """
    side = 768
    settings = Settings.from_dict({"size": side, "scales": 1, "iterations": 6, "device": "cpu", "precision": "fp32",
                                   "seed": 1, "memory_limit": 8 * GIB, "time_budget": 0})
    whole = api.stylize(astronaut, [stain], settings, cache=cache)
    tiled = api.stylize(astronaut, [stain], settings.replace(tile_size=tiling.MIN_TILE), cache=cache)
    step = tiled.plan.steps[-1]
    assert whole.plan.steps[-1].tile is None and step.tile == (tiling.MIN_TILE,) * 2 and step.tiles > 1
    folder = tmp_path_factory.mktemp("tiling")  # the pictures, to look at when it fails
    save_picture(whole.picture, folder / "whole.png")
    save_picture(tiled.picture, folder / "tiled.png")
    content = resize_tensor(to_tensor(astronaut.rgb), whole.picture.size)[0].permute(1, 2, 0).numpy()
    t, u = tiled.picture.rgb, whole.picture.rgb
    edges = tiling.edges(side, tiling.MIN_TILE)
    measured = agreement(t, u, content, edges, edges, block=side // 8)
    print(f"tiled vs untiled: {measured} (in {folder})")
    assert measured.change_ratio <= agreement_limits.MAX_CHANGE_RATIO, measured
    assert measured.tone_spread <= 1.0, measured  # levels (issue 17: "within a few")
    assert measured.edge_ratio <= agreement_limits.MAX_EDGE_RATIO, measured

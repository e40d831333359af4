"""Tiled optimisation (issue 10, points 2 and 3): geometry, blending, style statistics and no visible seams."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from nst_engine import api, costs, optimize, plan, tiling
from nst_engine.canvas_style import CanvasGrams
from nst_engine.images import Picture, resize_tensor, save_picture, to_tensor
from nst_engine.settings import Settings

PICTURES = Path(os.environ.get("NST_TILING_PICTURES", "/tmp/nst-tiling"))  # the seam test's images, to look at


@pytest.mark.parametrize("length, tile", [(512, 256), (341, 256), (1230, 500), (4096, 768), (260, 256), (2000, 192)])
def test_tiles_cover_overlap_enough_and_shifted_seams_fall_inside_tiles(length, tile):
    overlap = tiling.overlap_for(tile)
    assert overlap >= 64 and overlap >= tile / 8
    for shifted in (False, True):
        spans = tiling.spans(length, tile, shifted)
        assert spans[0][0] == 0 and spans[-1][1] == length
        assert all(0 < end - start <= tile for start, end in spans)
        assert all(a[1] - b[0] >= overlap for a, b in zip(spans, spans[1:], strict=False))  # overlaps
        assert all(b[0] > a[0] and b[1] > a[1] for a, b in zip(spans, spans[1:], strict=False))
    plain, shifted = tiling.spans(length, tile), tiling.spans(length, tile, True)
    # Each overlap of one pass lies inside a tile of the other, away from that tile's edges.
    for a, b in zip(plain, plain[1:], strict=False):
        centre = (b[0] + a[1]) // 2
        assert any(s + overlap // 2 <= centre <= e - overlap // 2 for s, e in shifted), (centre, shifted)


def test_blend_mask_rises_smoothly_from_the_tiles_written_before():
    tiles = tiling.layout((512, 341), (256, 256))
    first, second = tiles[0], tiles[1]
    assert first.ramp_left == first.ramp_top == 0 and torch.all(tiling.blend_mask(first, torch.device("cpu")) == 1)
    mask = tiling.blend_mask(second, torch.device("cpu"))[0, 0, 0]
    ramp = mask[: second.ramp_left]
    assert second.ramp_left >= 64 and float(ramp[0]) < 0.01 and float(ramp[-1]) > 0.99
    assert torch.all(ramp[1:] >= ramp[:-1]) and float(ramp.diff().max()) < 3 / second.ramp_left
    assert torch.all(mask[second.ramp_left:] == 1)
    # Written in order over a canvas, two flat tiles give a smooth cross-fade, no step.
    canvas = torch.zeros(1, 1, 256, 512)
    for tile, value in zip(tiling.layout((512, 256), (256, 256)), (0.0, 1.0, 0.0), strict=False):
        region = canvas[..., tile.y[0]:tile.y[1], tile.x[0]:tile.x[1]]
        region.mul_(1 - tiling.blend_mask(tile, canvas.device)).add_(value * tiling.blend_mask(tile, canvas.device))
    assert float(canvas[0, 0, 0].diff().abs().max()) < 0.05


def test_style_targets_in_chunks_match_the_whole_image(cache, stain):
    settings = Settings.from_dict({"device": "cpu", "precision": "fp32"})
    model, _ = cache.get(settings, torch.device("cpu"), False)
    style = resize_tensor(to_tensor(stain.rgb), (384, 256))
    with torch.no_grad():
        whole = costs.style_targets([(model(style), 1.0)], settings.style_layers)
    same = tiling.style_targets(model, [(style, 1.0)], settings.style_layers, 1024, optimize.make_autocast(
        torch.device("cpu"), torch.float32))
    chunked = tiling.style_targets(model, [(style, 1.0)], settings.style_layers, 192, optimize.make_autocast(
        torch.device("cpu"), torch.float32))
    for name in settings.style_layers:
        torch.testing.assert_close(same[name], whole[name], rtol=1e-4, atol=1e-6)
        error = float((chunked[name] - whole[name]).norm() / whole[name].norm())
        assert error < 0.1, (name, error)  # only the receptive fields cut at chunk borders differ


def test_a_tiles_style_cost_is_the_whole_canvass_with_the_rest_held_fixed(cache, cat, stain):
    """canvas_style: the joint Gram matrix swaps the tile's first contribution for its current one."""
    settings = Settings.from_dict({"device": "cpu", "precision": "fp32"})
    model, _ = cache.get(settings, torch.device("cpu"), False)
    fp32 = optimize.make_autocast(torch.device("cpu"), torch.float32)
    layers = settings.style_layers
    with torch.no_grad():
        targets = costs.style_targets([(model(resize_tensor(to_tensor(stain.rgb), (128, 128))), 1.0)], layers)
        canvas = resize_tensor(to_tensor(cat.rgb), (192, 128))
        other = canvas.flip(-1) * 0.5
        grams = CanvasGrams.measure(model, canvas, layers, 1024, fp32)  # one chunk: exactly the whole image's
        assert grams.pixels == 192 * 128
        whole_cost = costs.style_cost_from_targets(targets, model(canvas), layers)
        torch.testing.assert_close(grams.cost(targets, layers), whole_cost, rtol=1e-4, atol=0)

        tile = grams.tile(192 * 64)  # a tile of half the canvas: its style counts twice
        assert tile.scale == 2
        left = canvas[..., :96]
        assert float(tile.cost(targets, model(left), layers)) == pytest.approx(float(whole_cost), rel=1e-4)
        moved = tile.cost(targets, model(other[..., :96]), layers)  # the tile changed, the rest did not
        expected = {n: (grams.sums[n] - costs.layer_style_gram(model(left)[n]) +
                        costs.layer_style_gram(model(other[..., :96])[n])) / grams.counts[n] for n in layers}
        torch.testing.assert_close(moved, costs.style_cost_per_pixel(targets, expected, layers), rtol=1e-4, atol=0)
        tile.write_back()
        torch.testing.assert_close(grams.cost(targets, layers), moved, rtol=1e-4, atol=0)  # the canvas follows
        assert tile.first is None  # written: a second write_back adds nothing
        tile.write_back()
        torch.testing.assert_close(grams.cost(targets, layers), moved, rtol=1e-4, atol=0)


def test_tile_size_forces_tiles_and_progress_tells_tiles_and_fraction(cache, cat, stain):
    settings = Settings.from_dict({"size": 320, "iterations": 2, "coarse_iterations": 1, "scales": 2,
                                   "device": "cpu", "precision": "fp32", "tile_size": 192})
    events: list[optimize.Progress] = []
    result = api.stylize(cat, [stain], settings, progress=events.append, cache=cache)
    final = result.plan.steps[-1]
    assert final.tile == (192, 192) and final.tiles == len(tiling.layout(final.size, final.tile)) == 4
    assert result.plan.steps[0].tile is None  # 160 px: no tiles needed
    assert result.message == (
        "Tiled as tile_size 192 asks. "
        "Computed at 320x213 (coarse to fine: 160x106, 320x213 (in 4 tiles of 192x192))."
    )
    assert result.picture.size == (320, 213) and np.isfinite(result.picture.rgb).all()
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0) and fractions[0] > 0
    tiled = [e for e in events if e.scale == 2]
    assert [(e.tile, e.tiles, e.iteration) for e in tiled] == [(i, 4, n) for i in range(1, 5) for n in (1, 2)]
    assert tiled[-1].step == tiled[-1].total_steps == 1 + 4 * 2
    assert final.pixel_iterations == 2 * sum(t.pixels for t in tiling.layout(final.size, final.tile))


def test_passes_move_the_grid_only_when_each_pass_has_iterations_enough():
    assert tiling.pass_iterations(6) == [6] and tiling.pass_iterations(19) == [19]
    assert tiling.pass_iterations(20) == [10, 10] and tiling.pass_iterations(101) == [51, 50]
    size, tile = (512, 341), (256, 256)
    assert tiling.pixel_iterations(size, tile, 20) == 10 * sum(t.pixels for t in tiling.layout(size, tile)) + 10 * sum(
        t.pixels for t in tiling.layout(size, tile, shifted=True))
    assert tiling.optimizer_steps(size, tile, 20) == 10 * 6 + 10 * 12
    assert plan.tiled_step(size, 20, 256).pixel_iterations == tiling.pixel_iterations(size, tile, 20)


def _evaluate(cache, content: Picture, style: Picture, settings: Settings, image: np.ndarray) -> dict[str, float]:
    """The cost terms of `image` under one fp32 objective at its size."""
    return api.judge(content, [style], settings, cache)(Picture(image))


def seam_ratio(image: np.ndarray, tile_plan: plan.Step) -> dict[str, float]:
    """Mean absolute gradient across the tiles' borders (every pass's edges), over that inside the tiles.

    Per axis: the mean |difference| between the two pixels on either side of each border line,
    divided by the mean over all lines at least 3 px from any border.
    """
    assert tile_plan.tile is not None
    ratios = {}
    for axis, name in ((1, "x"), (0, "y")):
        length, tile = image.shape[axis], tile_plan.tile[1 - axis]
        borders = set()
        for shifted in (False, True):
            for start, end in tiling.spans(length, tile, shifted):
                borders |= {edge for edge in (start, end) if 0 < edge < length}
        steps = np.abs(np.diff(image, axis=axis)).mean(axis=(1 - axis, 2))  # steps[i]: between i and i+1
        across = np.array([steps[edge - 1] for edge in sorted(borders)])
        inside = np.array([steps[i] for i in range(len(steps)) if all(abs(i + 1 - e) > 3 for e in borders)])
        ratios[name] = float(across.mean() / inside.mean())
    return ratios


def _at_total(track: list[dict[str, float]], total: float) -> dict[str, float] | None:
    """The cost terms a run had when its J passed `total`, interpolated between its two iterations there."""
    for before, after in zip(track, track[1:], strict=False):
        if before["total"] >= total >= after["total"]:
            w = (before["total"] - total) / max(before["total"] - after["total"], 1e-12)
            return {name: (1 - w) * before[name] + w * after[name] for name in before}
    return None


@pytest.mark.timeout(1800)
def test_tiles_leave_no_seams_and_cost_what_a_whole_run_costs(cache, cat, stain):
    """512 px in tiles of 256 against the same run untiled (it fits): seams and cost terms.

    At these few iterations the terms move fast (style halves in six), and a tiled scale gets further
    per iteration than the whole image (each tile has its own L-BFGS; overlaps are optimised twice).
    So the tiled result's J must be no worse than the untiled run's after as many iterations, and its
    terms must be those the untiled run had when its J passed the same value: the same progress,
    reached with the same balance of content, style and smoothness (not, say, with extra texture).
    """
    base = {"size": 512, "scales": 2, "iterations": 12, "coarse_iterations": 6, "device": "cpu", "precision": "fp32"}
    settings = Settings.from_dict(base)
    tiled = api.stylize(cat, [stain], settings.replace(tile_size=256), cache=cache)
    step = tiled.plan.steps[-1]
    assert step.tile == (256, 256) and "Tiled as tile_size 256" in tiled.message
    track: list[dict[str, float]] = []  # the untiled run's terms at each iteration of its final scale, in fp32
    whole = api.stylize(cat, [stain], settings.replace(iterations=36), cache=cache,
                        progress=lambda event: event.scale == event.scales and track.append(event.losses))
    assert whole.plan.steps[-1].tile is None and len(track) == 36
    PICTURES.mkdir(parents=True, exist_ok=True)
    save_picture(whole.picture, PICTURES / "whole.png")
    save_picture(tiled.picture, PICTURES / "tiled.png")

    ratios = seam_ratio(tiled.picture.rgb, step)
    reference = seam_ratio(whole.picture.rgb, step)  # the same lines of the untiled result: the picture's own
    print(f"seam ratios (across borders / inside tiles): tiled {ratios}, the same lines untiled {reference}")
    assert max(ratios.values()) <= 1.25, ratios

    costs_tiled = _evaluate(cache, cat, stain, settings, tiled.picture.rgb)
    # The run's own fp32 terms are those of the test's objective (so `track` and `costs_tiled` compare).
    assert whole.losses["total"] == pytest.approx(_evaluate(cache, cat, stain, settings, whole.picture.rgb)["total"],
                                                  rel=0.02)
    same_iterations = track[12]  # J after 12 iterations (each event reports the J its step started from)
    matched = _at_total(track, costs_tiled["total"])
    print(f"cost terms, tiled (12 iterations a tile): {costs_tiled}\nuntiled after 12 iterations: "
          f"{same_iterations}\nuntiled where its J passed the tiled one's: {matched}")
    assert costs_tiled["total"] <= 1.25 * same_iterations["total"]
    assert matched is not None, "the untiled run never reached the tiled result's J"
    for term in ("content", "style", "tv"):
        assert costs_tiled[term] == pytest.approx(matched[term], rel=0.25), term

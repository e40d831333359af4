"""docs/images/regions.png: a style in one region (gatys/guides.py) against the whole-picture stylisation cut by
the same mask, with the content and the region's outline: content | guided result | whole run, cut.

The cut keeps the whole run's statistics inside, averaged over the whole picture; the guided run takes the
style's statistics over its region only, and leaves the photo outside untouched beyond a few feature cells.
Prints the picture measures (nst_engine/pictures/region_measures.py: how far the style reaches past the
feathered edge, along the middle row's columns) and, with --timing, what regions add to an iteration.

Run: `.venv/bin/python benchmarks/regions.py [--size 384] [--iterations 20] [--timing]` (synthetic weights
from the tests' generator, the chelsea photo, the ihc photo as the style inside an ellipse feathered over
24 px, the photo outside; fp32, seed 1). With synthetic weights the style is a coloured noise, not a
painting: judge the mechanics (where the style goes, where it stops), not the beauty.
The committed picture was made with the defaults (2026-12-03, 384x255, 20 iterations, 2 busy CPU threads): the
guided region changed by 0.100 inside and leaked 28 px (1.8 conv5_1 cells) past its feathered edge; the whole
run changed by 0.072 inside and, measured the same way, 115 px (everywhere); the cut 0 px by construction.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from nst_engine import api
from nst_engine.gatys import guides, optimize
from nst_engine.gatys.cache import ModelCache
from nst_engine.gatys.guides import Region, Regions
from nst_engine.pictures import region_measures
from nst_engine.pictures.images import Picture, from_tensor, load_picture, resize_tensor, to_tensor
from nst_engine.settings import Settings
from nst_engine.weights.synthetic import make_test_weights

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
FEATHER = 24


def ellipse(size: tuple[int, int], feather: int) -> np.ndarray:
    """1 inside an ellipse over the picture's middle, 0 outside, a linear ramp `feather` px wide inward."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    a, b = width * 0.3, height * 0.36
    r = np.sqrt(((x - width * 0.4) / a) ** 2 + ((y - height * 0.5) / b) ** 2)
    distance = (1 - r) * min(a, b)  # roughly pixels inside the edge
    return np.clip(distance / feather, 0, 1).astype(np.float32)


def outlined(picture: np.ndarray, mask: np.ndarray) -> Image.Image:
    """The picture with the mask's outer (0.01) and inner (0.99) edges drawn: the feather lies between."""
    image = Image.fromarray((picture * 255).round().astype(np.uint8))
    rgb = np.array(image)
    for level, colour in ((0.01, (255, 40, 40)), (0.99, (255, 220, 0))):
        inside = mask > level
        interior = np.roll(inside, 1, 0) & np.roll(inside, -1, 0) & np.roll(inside, 1, 1) & np.roll(inside, -1, 1)
        edge = inside & ~interior
        rgb[edge] = colour
    return Image.fromarray(rgb)


def timing(cache: ModelCache, content: Picture, style: Picture, size: tuple[int, int]) -> None:
    """CPU seconds of one evaluation (forward and backward) with 0, 2 and 8 regions, interleaved 3 times."""
    settings = Settings.from_dict({"device": "cpu", "precision": "fp32"})
    cpu, fp32 = torch.device("cpu"), optimize.make_autocast(torch.device("cpu"), torch.float32)
    model = cache.get(settings, cpu, False)[0]
    c = resize_tensor(to_tensor(content.rgb), size)
    s = resize_tensor(to_tensor(style.rgb), size)
    rng = np.random.default_rng(0)
    seconds: dict[tuple[int, bool], list[float]] = {(0, False): [], (2, False): [], (8, False): [], (8, True): []}
    columns = np.arange(size[0])
    for _ in range(3):
        for count, overlapping in seconds:
            guided = None
            if count and overlapping:  # the worst case: every mask covers the whole picture, softly
                masks = [rng.random((size[1], size[0])).astype(np.float32) / count for _ in range(count)]
            elif count:  # a partition: count stripes side by side, 16-px feathers between
                edges = np.linspace(0, size[0], count + 1)[1:-1]
                ramps = [np.clip((e + 8 - columns) / 16, 0, 1) for e in edges]
                strips = [ramps[0], *(b - a for a, b in zip(ramps, ramps[1:], strict=False)), 1 - ramps[-1]]
                masks = [np.tile(m.astype(np.float32), (size[1], 1)) for m in strips[:count]]
                parts = guides.channels(Regions(tuple(Region(m, 0) for m in masks), rest=0), size, cpu)
                guided = guides.guided_style(model, parts, [(s, 1.0)], settings.style_layers, 1 << 30, fp32)
            objective = optimize.Objective(model, c, [(s, 1.0)], settings, 3.0, fp32,
                                           style_targets={} if guided else None, guided=guided)
            x = c.clone().requires_grad_(True)
            start = time.process_time()  # CPU seconds: other programs on a shared machine do not count
            J, _ = objective(x)
            J.backward()
            seconds[count, overlapping].append(time.process_time() - start)
    base = min(seconds[0, False])
    for (count, overlapping), times in seconds.items():
        kind = "each over the whole picture" if overlapping else "side by side"
        print(f"{count} regions ({kind}): {min(times):.2f} CPU s an evaluation at {size[0]}x{size[1]} (best of 3), "
              f"{min(times) / base:.2f}x", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--timing", action="store_true", help="also time an evaluation with 0, 2 and 8 regions")
    parser.add_argument("--only-timing", action="store_true", help="time, make no picture")
    parser.add_argument("--weights", type=Path, help="a VGG-19 weights file (default: synthetic)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "regions.png")
    args = parser.parse_args()
    weights = args.weights or make_test_weights(Path(tempfile.mkdtemp()), "torchvision", sorted(DATA.glob("*.jpg")),
                                                seed=0)
    cache = ModelCache(weights)
    photo = load_picture(DATA / "chelsea.jpg")
    style = load_picture(DATA / "ihc.jpg")
    settings = Settings.from_dict({"size": args.size, "scales": 1, "iterations": args.iterations, "device": "cpu",
                                   "precision": "fp32", "seed": 1, "time_budget": 0})
    size = api.target_size(photo, settings)
    content = Picture(from_tensor(resize_tensor(to_tensor(photo.rgb), size)))
    if args.only_timing:
        timing(cache, content, style, size)
        return 0
    mask = ellipse(size, FEATHER)
    started = time.perf_counter()
    guided = api.stylize(content, [style], settings, cache=cache, regions=Regions((Region(mask, 0),), "photo"))
    print(f"guided run: {time.perf_counter() - started:.1f} s", flush=True)
    whole = api.stylize(content, [style], settings, cache=cache)
    cut = mask[..., None] * whole.picture.rgb + (1 - mask[..., None]) * content.rgb
    # Along the middle row's right half: the change per column, its leak past the ellipse's outer edge.
    row = slice(size[1] // 2 - 8, size[1] // 2 + 8)
    middle = mask[size[1] // 2]
    edge = int(np.nonzero(middle > 0)[0][-1]) + 1
    inner = int(np.nonzero(middle >= 1)[0][-1])
    inside = slice(int(size[0] * 0.4), inner - 16)
    for name, picture in (("guided", guided.picture.rgb), ("whole, cut", cut), ("whole", whole.picture.rgb)):
        change = region_measures.column_change(picture[row], content.rgb[row])
        leak = region_measures.leak(change, inside, edge)
        print(f"{name}: change inside {np.median(change[inside]):.4f}, leak past the feathered edge {leak} px "
              f"({leak / 16:.1f} conv5_1 cells), change beyond {edge + 64} px {change[edge + 64:].mean():.5f}")
    panels = [outlined(content.rgb, mask), Image.fromarray((guided.picture.rgb * 255).round().astype(np.uint8)),
              Image.fromarray((cut * 255).round().astype(np.uint8))]
    gap = 8
    sheet = Image.new("RGB", (3 * size[0] + 2 * gap, size[1] + 22), "white")
    draw = ImageDraw.Draw(sheet)
    labels = ("content, the region's feather outlined", "guided: style in the region",
              "whole-picture style, cut by the mask")
    for index, (panel, label) in enumerate(zip(panels, labels, strict=True)):
        sheet.paste(panel, (index * (size[0] + gap), 22))
        draw.text((index * (size[0] + gap) + 4, 5), label, fill="black")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")
    if args.timing:
        timing(cache, content, style, size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

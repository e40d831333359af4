"""docs/images/tiled-vs-untiled.png: the same run untiled and in tiles, and 4x their difference, side by side.

The tiled run is the untiled optimisation evaluated tile by tile (nst_engine/gatys/tiled_objective.py):
the difference should show noise from halo truncation, no grid. Prints the picture measures
(nst_engine/pictures/agreement.py) and the time of each run; with --halos, the trade of halo width
against difference and time (the tiled runs only).

Run: `.venv/bin/python benchmarks/tiled_vs_untiled.py [--size 768] [--tile 512] [--iterations 8]`
(synthetic weights from the tests' generator, the astronaut photo styled by the ihc photo, fp32, seed 1).
The committed picture was made with `--size 768 --iterations 6` (2026-12-03): 768x768 in the smallest
tiles (4 regions of 448 with 64-px halos): difference 0.106 of the style's change, block tone spread
0.003 levels, worst edge 1.01. Looked at, at 100 %: the x4 difference is flat grey with fine speckle
and no line or block; the speckle is densest (1.6x the mean) within about 32 px of the tiles'
borders, where the truncated conv5_1 features lie, in the textured hair and helmet.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from nst_engine import api
from nst_engine.gatys import tiling
from nst_engine.gatys.cache import ModelCache
from nst_engine.pictures.agreement import agreement
from nst_engine.pictures.images import Picture, load_picture, resize_tensor, save_picture, to_tensor
from nst_engine.settings import Settings
from nst_engine.weights.synthetic import make_test_weights

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"


def measures(tiled: np.ndarray, untiled: np.ndarray, content: np.ndarray, tile: int, block: int) -> dict[str, float]:
    height, width = untiled.shape[:2]
    measured = agreement(tiled, untiled, content, tiling.edges(width, tile), tiling.edges(height, tile), block=block)
    return {"mean difference over the style's change": measured.change_ratio,
            "block tone spread (levels)": measured.tone_spread, "worst edge ratio": measured.edge_ratio}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=768)
    parser.add_argument("--tile", type=int, default=tiling.MIN_TILE, help="tile side (default: the smallest)")
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--halos", type=int, nargs="*", default=[], help="also run the tiles with these halos")
    parser.add_argument("--weights", type=Path, help="a VGG-19 weights file (default: synthetic)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "tiled-vs-untiled.png")
    args = parser.parse_args()
    weights = args.weights or make_test_weights(Path(tempfile.mkdtemp()), "torchvision", sorted(DATA.glob("*.jpg")),
                                                seed=0)
    cache = ModelCache(weights)
    content = load_picture(DATA / "astronaut.jpg")
    style = load_picture(DATA / "ihc.jpg")
    settings = Settings.from_dict({"size": args.size, "scales": 1, "iterations": args.iterations, "device": "cpu",
                                   "precision": "fp32", "seed": 1, "time_budget": 0, "memory_limit": 64 * 2**30})
    print(f"# {args.size} px, {args.iterations} iterations, tiles of {args.tile}, CPU fp32, "
          f"{torch.get_num_threads()} threads")
    started = time.perf_counter()
    whole = api.stylize(content, [style], settings, cache=cache)
    whole_seconds = time.perf_counter() - started
    print(f"untiled: {whole.plan.describe()}, {whole_seconds:.1f} s")
    u = whole.picture.rgb
    c = resize_tensor(to_tensor(content.rgb), whole.picture.size)[0].permute(1, 2, 0).numpy()
    block = max(32, args.size // 8)
    picture = None
    for halo in [tiling.HALO, *(h for h in args.halos if h != tiling.HALO)]:
        tiling.HALO = halo  # the layout's default, read at each call
        started = time.perf_counter()
        tiled = api.stylize(content, [style], settings.replace(tile_size=args.tile), cache=cache)
        seconds = time.perf_counter() - started
        found = measures(tiled.picture.rgb, u, c, args.tile, block)
        print(f"halo {halo}: {tiled.plan.describe()}, {seconds:.1f} s ({seconds / whole_seconds:.2f}x untiled), "
              + ", ".join(f"{k} {v:.3f}" for k, v in found.items()))
        picture = tiled.picture.rgb if picture is None else picture
    assert picture is not None
    difference = np.clip(0.5 + 4 * (picture - u), 0, 1)
    gap = np.ones((u.shape[0], 8, 3))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_picture(Picture(np.concatenate([u, gap, picture, gap, difference], axis=1)), args.out)
    print(f"wrote {args.out}: untiled | tiled | 0.5 + 4 x (tiled - untiled)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A learned style applied in tiles against the whole picture at once: issue 17's measures, the times, and
docs/images/learned-tiled-vs-whole.png (whole, tiled, 4 x their difference around a corner of four tiles).

Three ways to tile are measured against the whole picture:
- "own statistics": every tile normalised by its own statistics (what `apply` did before: blocks);
- "scaled-down estimate": every tile given the statistics of the picture scaled down to one tile;
- "measured" (what `apply` does): the statistics measured on the full picture, layer by layer.
With the same statistics in every tile, tiles compute what one pass over the picture computes with
those statistics (runtime.py), so the second is measured in one pass with the estimated statistics.

The style is a small network learned for --steps at 128 px (as in issue 17) from the test photographs
with synthetic VGG-19 weights, or one saved before (--network, a state dict; --save-network writes one).

    python benchmarks/learned_tiles.py [--size 2048] [--tile 1024] [--steps 30] [--network net.pt]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nst_engine.learned.export import export  # noqa: E402
from nst_engine.learned.network import build  # noqa: E402
from nst_engine.learned.options import LearnOptions  # noqa: E402
from nst_engine.learned.runtime import Graph, Tiling, open_session, run_graph, run_tiled, whole_statistics  # noqa: E402
from nst_engine.pictures.agreement import agreement  # noqa: E402

DATA = ROOT / "tests" / "data"
PICTURE = ROOT / "docs" / "images" / "learned-tiled-vs-whole.png"
PANEL = 512  # side of each full-resolution crop in the picture
MID_GREY = 128 / 255  # zero difference: an 8-bit level, not 127.5 where rounding noise would draw lines


def learned_network(steps: int, folder: Path) -> torch.nn.Module:
    from nst_engine.learned.train import learn
    from nst_engine.pictures.images import load_picture
    from nst_engine.weights.synthetic import make_test_weights

    photos = sorted(DATA.glob("*.jpg"))
    weights = make_test_weights(folder / "weights", "torchvision", photos, seed=0)
    (folder / "photos").mkdir()
    for path in photos:  # three views of each test photo: at least the 8 photographs learning needs
        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((320, 320))
            for name, view in (("", image), ("-m", image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
                               ("-f", image.transpose(Image.Transpose.FLIP_TOP_BOTTOM))):
                view.save(folder / "photos" / f"{path.stem}{name}.jpg")
    options = LearnOptions(steps=steps, size=128, device="cpu", seed=1, checkpoint_every=10**6)
    return learn(load_picture(DATA / "ihc.jpg"), folder / "photos", options, None, weights).net


def own_statistics_tiles(session, graph: Graph, rgb: np.ndarray, tiling: Tiling) -> np.ndarray:
    out = np.empty_like(rgb)
    for (y0, y1, x0, x1), (top, bottom, left, right) in tiling.tiles():
        styled = run_graph(session, graph, rgb[y0:y1, x0:x1])[0]
        out[y0 + top:y0 + bottom, x0 + left:x0 + right] = styled[top:bottom, left:right]
    return out


def _timed(run):
    started = time.perf_counter()
    result = run()
    return result, time.perf_counter() - started


def _label(panel: np.ndarray, text: str) -> Image.Image:
    image = Image.fromarray(np.uint8(np.clip(panel, 0, 1) * 255 + 0.5))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 8 + 6 * len(text), 16), fill=(255, 255, 255))
    draw.text((4, 3), text, fill=(0, 0, 0))
    return image


def picture(rows: list[tuple[str, np.ndarray]], whole: np.ndarray, corner: tuple[int, int]) -> Image.Image:
    """Per row: whole, tiled, grey + 4 x (tiled - whole), as PANEL-px crops at full resolution around `corner`."""
    y, x = (max(0, min(c - PANEL // 2, s - PANEL)) for c, s in zip(corner, whole.shape[:2], strict=True))
    crop = np.s_[y:y + PANEL, x:x + PANEL]
    sheet = Image.new("RGB", (3 * PANEL, len(rows) * PANEL), "white")
    for i, (name, tiled) in enumerate(rows):
        panels = [_label(whole[crop], "whole picture"), _label(tiled[crop], name),
                  _label(MID_GREY + 4 * (tiled[crop] - whole[crop]), "4 x (tiled - whole)")]
        for j, panel in enumerate(panels):
            sheet.paste(panel, (j * PANEL, i * PANEL))
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--tile", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--network", type=Path, help="a saved state dict of a small network (skips learning)")
    parser.add_argument("--save-network", type=Path)
    parser.add_argument("--picture", type=Path, default=PICTURE)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if args.network:
            net = build("small")
            net.load_state_dict(torch.load(args.network, weights_only=True))
        else:
            net = learned_network(args.steps, Path(folder))
        if args.save_network:
            torch.save(net.state_dict(), args.save_network)
        session = open_session(export(net.eval(), Path(folder) / "model.onnx").path, spinning=False)
    graph = Graph.of(session)
    with Image.open(DATA / "astronaut.jpg") as image:
        rgb = np.asarray(image.convert("RGB").resize((args.size, args.size), Image.BICUBIC), np.float32) / 255
    tiling = Tiling.plan(args.size, args.size, args.tile, graph)
    xs, ys = tiling.borders()
    print(f"{args.size}x{args.size}, tiles of at most {args.tile} px: {tiling.count} tiles, halo {graph.halo} px, "
          f"{len(graph.norms)} norms; torch threads {torch.get_num_threads()}")
    whole, whole_s = _timed(lambda: run_tiled(session, rgb, args.size))
    tiled, tiled_s = _timed(lambda: run_tiled(session, rgb, args.tile))
    estimate = run_graph(session, graph, rgb, None, whole_statistics(session, graph, rgb, args.tile))[0]
    own = own_statistics_tiles(session, graph, rgb, tiling)
    print(f"time: whole {whole_s:.2f} s, tiled {tiled_s:.2f} s ({tiled_s / whole_s:.1f} x)")
    print("| tiles | mean abs(tiled - whole) / mean abs(whole - content) | block tone spread (levels) "
          "| edge / beside |")
    print("|---|---|---|---|")
    for name, result in (("own statistics", own), ("scaled-down estimate", estimate), ("measured", tiled)):
        a = agreement(result, whole, rgb, xs, ys)
        print(f"| {name} | {a.change_ratio:.3f} | {a.tone_spread:.2f} | {a.edge_ratio:.2f} |")
    args.picture.parent.mkdir(parents=True, exist_ok=True)
    picture([("tiles, own statistics (before)", own), ("tiles, measured statistics", tiled)], whole,
            (ys[len(ys) // 2], xs[len(xs) // 2])).save(args.picture)
    print(f"wrote {args.picture}")


if __name__ == "__main__":
    main()

"""Learned styles on this machine: apply at 1024², 2048², 4096² with ONNX Runtime (whole, and in tiles that
share the whole picture's statistics) and with torch eager, and learning steps per second at 256 px.

The networks are freshly initialised (the speed of a trained one is the same) and the costs use
synthetic VGG-19 weights unless --weights is given (the speed is the same too).

    python benchmarks/bench_learned.py [--sizes 1024 2048 4096] [--width small] [--threads N]
        [--tile PX] [--ort-threads N] [--ort-spinning on|off] [--no-torch] [--no-whole] [--learn-steps 0]

"tiled" uses tiles of at most --tile px (one whole-picture estimate of the statistics, the measuring
passes, then the tiles themselves); "whole" one pass over the picture, as far as memory allows.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nst_engine.learned.export import export  # noqa: E402
from nst_engine.learned.network import Tileable, build  # noqa: E402
from nst_engine.learned.options import LearnOptions  # noqa: E402
from nst_engine.learned.runtime import GRAPH_INPUTS, open_session, provider_label, run_tiled  # noqa: E402
from nst_engine.learned.sizes import DEFAULT_TILE  # noqa: E402


def _best(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def _torch_tiled(module: Tileable, session, rgb: np.ndarray, tile: int) -> None:
    """torch eager through the same tiling as ONNX Runtime, so only the executor differs."""

    class Eager:
        def get_modelmeta(self):
            return session.get_modelmeta()  # the norms' layout and the halo, as the runtime reads them

        def run(self, _names, feeds):
            with torch.inference_mode():
                return [t.numpy() for t in module(*(torch.from_numpy(feeds[name]) for name in GRAPH_INPUTS))]

    run_tiled(Eager(), rgb, tile)


def bench_apply(width: str, sizes: list[int], repeats: int, tile: int, ort_threads: int = 0,
                spinning: bool | None = None, with_torch: bool = True,
                with_whole: bool = True) -> list[tuple[int, float, float, float]]:
    torch.manual_seed(0)
    net = build(width).eval()
    with tempfile.TemporaryDirectory() as folder:
        path = export(net, Path(folder) / "model.onnx").path
        session = open_session(path, ort_threads, spinning)
        print(f"ONNX Runtime provider: {provider_label(session)} (threads {ort_threads or 'default'}, spinning "
              f"{'default' if spinning is None else spinning}); torch threads: {torch.get_num_threads()}")
        module = Tileable(net)
        rows = []
        for size in sizes:
            rgb = np.random.default_rng(0).random((size, size, 3), dtype=np.float32)
            whole_s = _best(lambda: run_tiled(session, rgb, size), repeats) if with_whole else float("nan")  # noqa: B023
            ort_s = _best(lambda: run_tiled(session, rgb, tile), repeats)  # noqa: B023
            torch_s = (_best(lambda: _torch_tiled(module, session, rgb, tile), repeats)  # noqa: B023
                       if with_torch else float("nan"))
            rows.append((size, whole_s, ort_s, torch_s))
            print(f"  {size}²: ONNX Runtime whole {whole_s:.2f} s, tiled {ort_s:.2f} s; torch eager tiled "
                  f"{torch_s:.2f} s", flush=True)
    return rows


def bench_learning(width: str, steps: int, weights: Path | None) -> float:
    from nst_engine.learned.train import Costs, PhotoSet

    with tempfile.TemporaryDirectory() as folder:
        from PIL import Image

        from nst_engine.pictures.reference import procedural_images

        for index, image in enumerate(procedural_images(count=8, size=320, seed=1)):
            Image.fromarray(np.uint8(image * 255)).save(Path(folder) / f"{index}.png")
        if weights is None:
            from nst_engine.weights.synthetic import make_test_weights

            weights = make_test_weights(Path(folder), "torchvision", seed=0)
        options = LearnOptions(size=256, width=width, device="cpu")
        style = procedural_images(count=1, size=256, seed=7)[0]
        from nst_engine.pictures.images import Picture

        costs = Costs(Picture(style), options, weights)
        photos = PhotoSet(folder, 256, random.Random(0))
        net = build(width)
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)

        def step() -> None:  # as train.learn does it: `options.batch` crops per step
            optimizer.zero_grad()
            for _ in range(options.batch):
                total, _ = costs(net, photos.draw())
                (total / options.batch).backward()
            optimizer.step()

        step()  # warm-up
        started = time.perf_counter()
        for _ in range(steps):
            step()
        return steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096])
    parser.add_argument("--width", choices=("small", "standard"), default="small")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--tile", type=int, default=DEFAULT_TILE)
    parser.add_argument("--learn-steps", type=int, default=10)
    parser.add_argument("--weights", type=Path)
    parser.add_argument("--threads", type=int, help="torch threads")
    parser.add_argument("--ort-threads", type=int, default=0, help="ONNX Runtime intra-op threads (0: its default)")
    parser.add_argument("--ort-spinning", choices=("on", "off"), default="off",
                        help="ONNX Runtime threads busy-wait (default off, as the engine's sessions)")
    parser.add_argument("--no-torch", action="store_true", help="only ONNX Runtime")
    parser.add_argument("--no-whole", action="store_true", help="no whole-picture pass (where it does not fit)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"{os.cpu_count()} logical CPUs, torch {torch.__version__}, width {args.width}, tile {args.tile}")
    spinning = None if args.ort_spinning is None else args.ort_spinning == "on"
    rows = bench_apply(args.width, args.sizes, args.repeats, args.tile, args.ort_threads, spinning, not args.no_torch,
                       not args.no_whole)
    rate = bench_learning(args.width, args.learn_steps, args.weights) if args.learn_steps else float("nan")
    print()
    print(f"| size | ORT whole (s) | ORT tiled, {args.tile} px (s) | tiled / whole | torch eager tiled (s) "
          "| torch / ORT |")
    print("|---|---|---|---|---|---|")
    for size, whole_s, ort_s, torch_s in rows:
        print(f"| {size}x{size} | {whole_s:.2f} | {ort_s:.2f} | {ort_s / whole_s:.2f} | {torch_s:.2f} "
              f"| {torch_s / ort_s:.2f} |")
    print(f"\nlearning at 256 px ({args.width}, {LearnOptions().batch} crops a step): {rate:.3f} steps/s")


if __name__ == "__main__":
    main()

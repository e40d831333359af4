"""Speed of the engine on this machine's device (a benchmark, not a test).

1. Time per L-BFGS iteration at several sizes (and achieved TFLOP/s and peak memory on CUDA).
2. The default pipeline (coarse-to-fine; bf16 where the hardware runs it fast; channels-last on CUDA)
   against a plain single-scale fp32 L-BFGS run at the same size: the time each needs to reach the
   plain run's final loss.

Run: `.venv/bin/python benchmarks/bench.py [--size 512] [--iterations 100] [--weights FILE]`.
Without --weights it generates synthetic VGG-19 weights from the test photographs.
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

from nst_engine import api, optimize
from nst_engine.images import load_picture, scaled_size
from nst_engine.model import CONVS
from nst_engine.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = sorted((ROOT / "tests" / "data").glob("*.jpg"))
# (in, out, downsampling) of each convolution up to conv5_1, the deepest the costs use.
_CONVS = [(cin, cout, 2 ** (int(name[4]) - 1)) for _index, name, cin, cout in CONVS if name < "conv5_2"]


def vgg_flops(width: int, height: int) -> float:
    """Multiply-adds x2 of conv1_1..conv5_1, forward plus the input-gradient backward (about the same)."""
    forward = sum(2 * 9 * cin * cout * (width // s) * (height // s) for cin, cout, s in _CONVS)
    return 2.0 * forward


def peak_memory(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB (CUDA)"
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB (process RSS high-water mark)"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def time_iterations(cache, content, style, size: int, settings: Settings, device, steps: int = 6) -> tuple[float, str]:
    """Seconds per iteration at `size` (after two warm-up iterations)."""
    stamps: list[float] = []

    def on_progress(event) -> None:
        sync(device)
        stamps.append(time.perf_counter())

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    run = settings.replace(size=size, scales=1, iterations=steps + 2)
    api.stylize(content, [style], run, progress=on_progress, cache=cache)
    per_iteration = (stamps[-1] - stamps[1]) / (len(stamps) - 2)
    return per_iteration, peak_memory(device)


def trajectory(cache, content, style, settings: Settings, device) -> list[tuple[float, int, float]]:
    """(seconds since start, scale, total loss) after every iteration."""
    points: list[tuple[float, int, float]] = []
    sync(device)
    started = time.perf_counter()

    def on_progress(event: optimize.Progress) -> None:
        points.append((time.perf_counter() - started, event.scale == event.scales, event.losses["total"]))

    api.stylize(content, [style], settings, progress=on_progress, cache=cache)
    return points


def time_to_reach(points, target: float) -> float | None:
    for seconds, final_scale, loss in points:
        if final_scale and loss <= target:
            return seconds
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="long side for the pipeline comparison")
    parser.add_argument("--iterations", type=int, default=100, help="iterations of the plain run (and per scale)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512], help="sizes to time iterations at")
    parser.add_argument("--weights", type=Path, help="a VGG-19 weights file (default: synthetic)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    weights = args.weights
    if weights is None:
        from nst_engine.synthetic_weights import make_test_weights

        weights = make_test_weights(Path(tempfile.mkdtemp()), "torchvision", PHOTOS, seed=0)
    cache = api.ModelCache(weights)
    device = api.resolve_device(args.device)
    content = load_picture(ROOT / "tests" / "data" / "chelsea.jpg")
    style = load_picture(ROOT / "tests" / "data" / "ihc.jpg")
    base = Settings.from_dict({"device": args.device})
    plain = base.replace(scales=1, precision="fp32", channels_last=False, size=args.size, iterations=args.iterations)
    default = base.replace(size=args.size, iterations=args.iterations)

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(f"# nst-engine benchmark: {device} ({name}), torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"# weights: {weights}")
    print("\n## Iteration speed (L-BFGS, one scale)\n")
    print("| size | precision | s/iteration | iterations/s | peak memory | TFLOP/s |")
    print("|---|---|---|---|---|---|")
    precisions = ["fp32", "bf16"] if device.type == "cuda" or api.cpu_has_fast_bf16() else ["fp32"]
    for size in args.sizes:
        for precision in precisions:
            settings = base.replace(precision=precision, channels_last=precision != "fp32" or None)
            seconds, peak = time_iterations(cache, content, style, size, settings, device)
            w, h = scaled_size(content.size, size)
            tflops = f"{vgg_flops(w, h) / seconds / 1e12:.1f}" if device.type == "cuda" else "-"
            print(f"| {w}x{h} | {precision} | {seconds:.3f} | {1 / seconds:.2f} | {peak} | {tflops} |", flush=True)

    print(f"\n## Default pipeline vs plain single-scale fp32 L-BFGS at {args.size} px\n")
    plain_points = trajectory(cache, content, style, plain, device)
    target = plain_points[-1][2]
    default_points = trajectory(cache, content, style, default, device)
    plain_time = time_to_reach(plain_points, target)
    default_time = time_to_reach(default_points, target)
    print(f"plain: {len(plain_points)} iterations, final loss {target:.5g}, {plain_points[-1][0]:.1f} s")
    scales = optimize.scale_sizes(scaled_size(content.size, args.size), default.scales, default.min_scale_size)
    print(
        f"default: scales {', '.join(f'{w}x{h}' for w, h in scales)}, {len(default_points)} iterations, "
        f"final loss {default_points[-1][2]:.5g}, {default_points[-1][0]:.1f} s"
    )
    if default_time is None:
        print("default pipeline never reached the plain run's final loss")
        return 1
    print(f"time to reach {target:.5g}: plain {plain_time:.1f} s, default {default_time:.1f} s, "
          f"ratio default/plain = {default_time / plain_time:.2f} (goal <= 0.33)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The GPU benchmark of issue 10 (a benchmark, not a test): one table of speed, efficiency and memory.

Per size (square, 512 to 4096 px by default), one scale of L-BFGS at the default precision (bf16 on
CUDA) and layout (channels-last): iterations per second; achieved TFLOP/s, counting VGG-19's
convolutions up to the deepest layer the costs use, forward and the input-gradient backward, against
the device's bf16 matrix-product peak measured here; peak memory (`torch.cuda.max_memory_allocated`)
against `memory.estimate_bytes`. Then a whole 1024x1024 "standard" run with the engine warm, and
2048x2048 in tiles of 512 against the same run untiled (bf16: time, peak memory, and the pictures
compared by nst_engine/agreement.py). Goals
(issue 10): that run in at most 3 s, the network at 40 % or more of the peak, 4096x4096 within 24 GB.

Without CUDA it counts the FLOPs, runs a tiny CPU stylisation to show the pipeline works, and says
that it skipped the rest. Run by benchmarks/gpu_check.sh; alone: `python benchmarks/gpu_check.py`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from nst_engine import api
from nst_engine.device import resolve_precision
from nst_engine.gatys.cache import ModelCache
from nst_engine.gatys.layers import LAYER_INDEX
from nst_engine.gatys.model import CONVS
from nst_engine.pictures.images import Picture, load_picture, resize_tensor, to_tensor
from nst_engine.planning import memory
from nst_engine.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = sorted((ROOT / "tests" / "data").glob("*.jpg"))
GOAL_STANDARD_SECONDS = 3.0
GOAL_PEAK_SHARE = 0.40
GOAL_4096_BYTES = 24 * 10**9


def vgg_flops(width: int, height: int, deepest: str = "conv5_1") -> float:
    """FLOPs of one optimisation step's network: forward plus backward to the input, up to `deepest`.

    A convolution costs 2 * 9 * in * out per output pixel; pooling halves each side (rounding
    down). The weights are frozen, so backward computes only the input's gradient, as much again as
    forward. The fp32 costs (Gram matrices) are not counted: under 5 % of the total at these sizes.
    """
    last = LAYER_INDEX[deepest]
    total, w, h, block = 0.0, width, height, 1
    for index, name, cin, cout in CONVS:
        if index > last:
            break
        while int(name[4]) > block:  # a pooling layer between two blocks
            w, h, block = w // 2, h // 2, block + 1
        total += 2.0 * 9 * cin * cout * w * h
    return 2.0 * total


def square_content(side: int = 300) -> Picture:
    """The cat photograph's centre square: the engine scales it to each size."""
    picture = load_picture(ROOT / "tests" / "data" / "chelsea.jpg")
    height, width = picture.rgb.shape[:2]
    crop = min(width, height)
    top, left = (height - crop) // 2, (width - crop) // 2
    return Picture(np.ascontiguousarray(picture.rgb[top : top + crop, left : left + crop]))


def bf16_peak_tflops(device: torch.device, n: int = 8192, repeats: int = 10) -> float:
    """The device's bf16 matrix-product rate: n^3 products, three warm-ups, the mean of `repeats`."""
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    torch.cuda.synchronize(device)
    seconds = (time.perf_counter() - start) / repeats
    del a, b
    torch.cuda.empty_cache()
    return 2.0 * n**3 / seconds / 1e12


def measure_size(cache, content, style, side: int, device, warmup: int, timed: int) -> dict:
    """One scale of `warmup + timed` L-BFGS iterations at side x side; rates from the timed ones."""
    stamps: list[float] = []

    def on_progress(event) -> None:  # the losses in the event are already on the host: synchronised
        torch.cuda.synchronize(device)
        stamps.append(time.perf_counter())

    settings = Settings.from_dict({"size": side, "scales": 1, "iterations": warmup + timed, "device": "cuda"})
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    result = api.stylize(content, [style], settings, progress=on_progress, cache=cache)
    seconds = (stamps[-1] - stamps[warmup - 1]) / timed
    width, height = result.size
    dtype = resolve_precision(settings, device)
    dtype_bytes = 2 if dtype != torch.float32 else 4
    deepest = max((settings.content_layer, *settings.style_layers), key=LAYER_INDEX.__getitem__)
    return {
        "size": f"{width}x{height}",
        "precision": str(dtype).removeprefix("torch."),
        "plan": result.plan.describe() if result.plan is not None else "",
        "it_s": 1.0 / seconds,
        "tflops": vgg_flops(width, height, deepest) / seconds / 1e12,
        "peak": torch.cuda.max_memory_allocated(device),
        "estimate": estimate_bytes(width, height, dtype_bytes),
        "finite": bool(np.isfinite(result.picture.rgb).all()),
    }


def estimate_bytes(width: int, height: int, dtype_bytes: int) -> int | None:
    """memory.py's estimate for one untiled scale, if its signature is still this one."""
    try:
        return int(memory.estimate_bytes(width, height, dtype_bytes))
    except TypeError:
        return None


def warm_standard_seconds(cache, content, style, side: int = 1024) -> tuple[float, str]:
    """A whole default ("standard") run at side x side, the second of two (the engine warm)."""
    settings = Settings.from_dict({"preset": "standard", "size": side, "device": "cuda"})
    api.stylize(content, [style], settings, cache=cache)
    torch.cuda.synchronize()
    start = time.perf_counter()
    result = api.stylize(content, [style], settings, cache=cache)
    torch.cuda.synchronize()
    return time.perf_counter() - start, result.plan.describe() if result.plan is not None else ""


def tiles_check(cache, content, style, side: int = 2048, tile: int = 512) -> list[str]:
    """One scale at `side` untiled and in tiles of `tile` (bf16, 4 iterations): time, peak, picture measures."""
    from nst_engine.gatys import tiling
    from nst_engine.pictures.agreement import agreement

    settings = Settings.from_dict({"size": side, "scales": 1, "iterations": 4, "device": "cuda", "seed": 1,
                                   "time_budget": 0})
    runs = {}
    for name, tile_size in (("untiled", None), (f"tiles of {tile}", tile)):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        result = api.stylize(content, [style], settings.replace(tile_size=tile_size), cache=cache)
        runs[name] = (result, torch.cuda.max_memory_allocated())
    (whole, whole_peak), (tiled, tiled_peak) = runs.values()
    u, t = whole.picture.rgb, tiled.picture.rgb
    c = resize_tensor(to_tensor(content.rgb), whole.picture.size)[0].permute(1, 2, 0).numpy()
    height, width = u.shape[:2]
    measured = agreement(t, u, c, tiling.edges(width, tile), tiling.edges(height, tile), block=side // 8)
    return ["", f"Tiles on CUDA ({side}x{side}, bf16, 4 iterations): untiled {whole.seconds:.2f} s, "
            f"{gib(whole_peak)}; {tiled.plan.describe() if tiled.plan else ''}: {tiled.seconds:.2f} s "
            f"({tiled.seconds / whole.seconds:.2f}x), {gib(tiled_peak)}; {measured}"]


def gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


def cpu_part(cache, content, style) -> list[str]:
    """What runs anywhere: the FLOP counts, and a 64-px CPU run through the whole pipeline."""
    lines = ["| size | VGG-19 FLOPs per iteration (to conv5_1, fwd + bwd) |", "|---|---|"]
    for side in (512, 1024, 2048, 4096):
        lines.append(f"| {side}x{side} | {vgg_flops(side, side) / 1e12:.2f} TFLOP |")
    settings = Settings.from_dict({"size": 64, "iterations": 3, "scales": 1, "device": "cpu"})
    started = time.perf_counter()
    result = api.stylize(content, [style], settings, cache=cache)
    ok = np.isfinite(result.picture.rgb).all() and np.isfinite(result.losses["total"])
    lines.append(f"\nCPU sanity run: {result.size[0]}x{result.size[1]}, 3 iterations, "
                 f"{time.perf_counter() - started:.1f} s, {'finite result' if ok else 'NOT FINITE'}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048, 4096])
    parser.add_argument("--warmup", type=int, default=3, help="iterations before timing (cuDNN picks kernels)")
    parser.add_argument("--iterations", type=int, default=10, help="timed iterations per size")
    parser.add_argument("--weights", type=Path, help="a VGG-19 weights file (default: synthetic)")
    parser.add_argument("--budget", type=float, default=400.0, help="seconds; sizes that would not fit are skipped")
    parser.add_argument("--out", type=Path, help="also write the report (markdown) here")
    args = parser.parse_args()
    started = time.perf_counter()

    weights = args.weights
    if weights is None:
        from nst_engine.weights.synthetic import make_test_weights

        weights = make_test_weights(Path(tempfile.mkdtemp()), "torchvision", PHOTOS, seed=0)
    cache = ModelCache(weights)
    content, style = square_content(), load_picture(ROOT / "tests" / "data" / "ihc.jpg")
    report = [f"# GPU check: torch {torch.__version__}, CUDA {torch.version.cuda}, weights {Path(weights).name}", ""]
    report += cpu_part(cache, content, style)
    if not torch.cuda.is_available():
        report += ["", "SKIPPED the GPU rows: torch sees no CUDA device here (they need one: run "
                   "benchmarks/gpu_check.sh on a GPU machine)."]
        return finish(report, args.out, 0)

    device = torch.device("cuda")
    peak = bf16_peak_tflops(device)
    name = torch.cuda.get_device_name(device)
    total = torch.cuda.get_device_properties(device).total_memory
    report += ["", f"## {name}, {gib(total)}; measured bf16 matrix-product peak {peak:.0f} TFLOP/s", "",
               "| size | precision | iterations/s | TFLOP/s | % of bf16 peak | peak memory | estimate | "
               "measured/estimate | plan |",
               "|---|---|---|---|---|---|---|---|---|"]
    rows, last_seconds, last_pixels = [], 0.0, 1
    for side in args.sizes:
        elapsed = time.perf_counter() - started
        # Time grows with the pixels: skip a size that would not finish in what is left.
        guess = last_seconds * side * side / last_pixels * 1.5
        if elapsed + guess > args.budget:
            report.append(f"| {side}x{side} | skipped: about {guess:.0f} s needed, "
                          f"{args.budget - elapsed:.0f} s left | | | | | | | |")
            continue
        size_started = time.perf_counter()
        try:
            row = measure_size(cache, content, style, side, device, args.warmup, args.iterations)
        except torch.OutOfMemoryError as error:
            report.append(f"| {side}x{side} | out of memory: {str(error).splitlines()[0][:80]} | | | | | | | |")
            torch.cuda.empty_cache()
            continue
        last_seconds, last_pixels = time.perf_counter() - size_started, side * side
        rows.append(row)
        flag = "" if row["finite"] else " NOT FINITE"
        report.append(
            f"| {row['size']} | {row['precision']}{flag} | {row['it_s']:.2f} | {row['tflops']:.1f} | "
            f"{100 * row['tflops'] / peak:.0f} % | {gib(row['peak'])} | "
            + (f"{gib(row['estimate'])} | {row['peak'] / row['estimate']:.2f} | " if row["estimate"] else "n/a | | ")
            + f"{row['plan']} |"
        )
        print(report[-1], flush=True)

    goals = []
    if time.perf_counter() - started < args.budget - 30:
        seconds, plan = warm_standard_seconds(cache, content, style)
        verdict = "met" if seconds <= GOAL_STANDARD_SECONDS else "NOT met"
        goals.append(f"- 1024x1024 standard run, engine warm: {seconds:.2f} s (goal <= 3 s: {verdict}; {plan})")
    else:
        goals.append("- 1024x1024 standard run: skipped, no time left")
    if rows:
        best = max(rows, key=lambda r: r["tflops"])
        share = best["tflops"] / peak
        goals.append(f"- best network rate {best['tflops']:.0f} TFLOP/s at {best['size']} = {100 * share:.0f} % "
                     f"of the bf16 peak (goal >= 40 %: {'met' if share >= GOAL_PEAK_SHARE else 'NOT met'})")
    largest = [r for r in rows if r["size"] == "4096x4096"]
    if largest:
        fits = largest[0]["peak"] <= GOAL_4096_BYTES
        goals.append(f"- 4096x4096 peak memory {largest[0]['peak'] / 1e9:.1f} GB (goal <= 24 GB: "
                     f"{'met' if fits else 'NOT met'})")
    else:
        goals.append("- 4096x4096: not measured")
    if time.perf_counter() - started < args.budget - 60:
        report += tiles_check(cache, content, style)
    report += ["", "Goals:", *goals]
    ok = all(r["finite"] for r in rows)
    return finish(report, args.out, 0 if ok else 1)


def finish(report: list[str], out: Path | None, status: int) -> int:
    text = "\n".join(report)
    print("\n" + text, flush=True)
    if out is not None:
        out.write_text(text + "\n", encoding="utf-8")
    return status


if __name__ == "__main__":
    sys.exit(main())

"""Speed of the engine on this machine's device (a benchmark, not a test).

1. Time per L-BFGS iteration at several sizes, with the row's peak memory (and achieved TFLOP/s on CUDA).
2. The default pipeline (coarse-to-fine; bf16 where the hardware runs it fast; channels-last on CUDA)
   against a plain single-scale fp32 L-BFGS run at the same size: the time each needs to reach the
   plain run's final loss. Both runs' images are judged by one fp32 objective (the default's own
   losses come from its bf16 network), at snapshots of the final scale.
3. Full resolution: a 2048x1365 content at "standard", with and without a memory limit: time, the
   estimate beside it, peak memory, and the limited row's picture against
   the unlimited one's (nst_engine/agreement.py: mean difference over the style's change, block tone
   spread, worst edge).
4. One evaluation tiled against untiled at a size where both fit (`--tiles 1024x1024`): for the
   smallest tiles and larger ones, time over untiled, each pass's share, the halos' area and the
   estimate's work (on the CPU: the process's CPU time on one thread, the minimum of interleaved rounds).
Each row of sections 1 and 3 runs in a process of its own, so that its peak memory is its own.

Run: `.venv/bin/python benchmarks/bench.py [--size 512] [--iterations 100] [--weights FILE]`;
`--fullres 2048x1365 --memory-limit 1GiB` (or `--fullres-tile 512`) set section 3 (`--fullres 0` skips
it), `--skip-race` and `--sizes` trim the rest. Without --weights it generates synthetic VGG-19 weights
from the test photographs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from nst_engine import api, calibrate
from nst_engine.device import cpu_has_fast_bf16, resolve_device, resolve_precision
from nst_engine.gatys import optimize
from nst_engine.gatys.cache import ModelCache
from nst_engine.gatys.model import CONVS
from nst_engine.gatys.tiling import MIN_TILE
from nst_engine.pictures.images import Picture, load_picture, resize_tensor, scaled_size, to_tensor
from nst_engine.planning import timing
from nst_engine.planning.schedule import scale_sizes
from nst_engine.settings import SPECS, Settings

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = sorted((ROOT / "tests" / "data").glob("*.jpg"))
# (in, out, downsampling) of each convolution up to conv5_1, the deepest the costs use.
_CONVS = [(cin, cout, 2 ** (int(name[4]) - 1)) for _index, name, cin, cout in CONVS if name < "conv5_2"]


def vgg_flops(width: int, height: int) -> float:
    """Multiply-adds x2 of conv1_1..conv5_1, forward plus the input-gradient backward (about the same)."""
    forward = sum(2 * 9 * cin * cout * (width // s) * (height // s) for cin, cout, s in _CONVS)
    return 2.0 * forward


class RowPeak:
    """A row's peak memory: in a process of its own, the RSS rise from after the model is loaded to the
    process's high-water mark (the weights are not the row's); on CUDA, torch's peak allocation."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.before = device, resident_bytes()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)

    def measure(self) -> tuple[int, str]:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device), "CUDA allocated"
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - self.before, "RSS rise"


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def in_child(kind: str, spec: dict, env: dict[str, str] | None = None) -> dict | str:
    """Run one row in a process of its own (so that its peak memory is its own): its JSON, or why it failed."""
    done = subprocess.run([sys.executable, __file__, "--row", json.dumps({"kind": kind, **spec})],
                          capture_output=True, text=True, env={**os.environ, **(env or {})})
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or ["?"])[-1][:100]
    return json.loads(done.stdout.strip().splitlines()[-1])


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def speed_row(spec: dict, steps: int = 6) -> dict:
    """Seconds per iteration at `size` (after two warm-up iterations) and the row's peak memory."""
    cache = ModelCache(spec["weights"])
    settings = Settings.from_dict({"device": spec["device"], **spec["settings"]})
    device = resolve_device(settings.device)
    cache.get(settings, device, bool(settings.channels_last))
    content = load_picture(ROOT / "tests" / "data" / "chelsea.jpg")
    style = load_picture(ROOT / "tests" / "data" / "ihc.jpg")
    stamps: list[float] = []

    def on_progress(event) -> None:
        sync(device)
        stamps.append(time.perf_counter())

    peak = RowPeak(device)
    run = settings.replace(size=spec["size"], scales=1, iterations=steps + 2)
    api.stylize(content, [style], run, progress=on_progress, cache=cache)
    peak_bytes, peak_kind = peak.measure()
    return {"seconds": (stamps[-1] - stamps[1]) / (len(stamps) - 2), "peak": peak_bytes, "peak_kind": peak_kind}


# ------------------------------------------------------------------ the race, judged by one objective


def trajectory(cache, content, style, settings: Settings, device, snapshots: int = 20) -> list[tuple[float, Picture]]:
    """(seconds since start, image) at about `snapshots` iterations of the final scale, and its last."""
    points: list[tuple[float, Picture]] = []
    every = max(1, settings.iterations // snapshots)
    sync(device)
    started = time.perf_counter()

    def on_progress(event: optimize.Progress) -> None:
        if event.scale == event.scales and event.preview is not None:
            points.append((time.perf_counter() - started, event.preview))

    final = api.stylize(content, [style], settings, progress=on_progress, cache=cache,
                        preview_every=every, preview_size=10**6)  # full-size snapshots
    points.append((final.seconds, final.picture))
    return points


def time_to_reach(points: list[tuple[float, float]], target: float) -> float | None:
    return next((seconds for seconds, loss in points if loss <= target), None)


def race(cache, content, style, base: Settings, size: int, iterations: int, device) -> int:
    plain = base.replace(scales=1, precision="fp32", channels_last=False, size=size, iterations=iterations)
    default = base.replace(size=size, iterations=iterations)
    print(f"\n## Default pipeline vs plain single-scale fp32 L-BFGS at {size} px (one fp32 objective judges both)\n")
    plain_images = trajectory(cache, content, style, plain, device)
    default_images = trajectory(cache, content, style, default, device)
    judge = api.judge(content, [style], plain, cache)  # the plain run's fp32 objective judges both
    plain_points = [(seconds, judge(image)["total"]) for seconds, image in plain_images]
    default_points = [(seconds, judge(image)["total"]) for seconds, image in default_images]
    target = plain_points[-1][1]
    print(f"plain: final loss {target:.5g}, {plain_points[-1][0]:.1f} s")
    scales = scale_sizes(scaled_size(content.size, size), default.scales, default.min_scale_size)
    print(f"default: scales {', '.join(f'{w}x{h}' for w, h in scales)}, final loss {default_points[-1][1]:.5g}, "
          f"{default_points[-1][0]:.1f} s")
    plain_time, default_time = time_to_reach(plain_points, target), time_to_reach(default_points, target)
    if default_time is None or plain_time is None:
        print("default pipeline never reached the plain run's final loss")
        return 1
    print(f"time to reach {target:.5g}: plain {plain_time:.1f} s, default {default_time:.1f} s, "
          f"ratio default/plain = {default_time / plain_time:.2f} (goal <= 0.33)")
    return 0


# ------------------------------------------------------------------ full resolution, a process per row


def picture_measures(tiled: Picture, untiled: Picture, content: Picture, step) -> str:
    """The tiled picture against the untiled one, every tile edge of the last scale counted once."""
    from nst_engine.gatys import tiling
    from nst_engine.pictures.agreement import agreement

    t, u, c = tiled.rgb, untiled.rgb, content.rgb
    if t.shape != u.shape or step is None or step.tile is None:
        return "untiled"
    height, width = u.shape[:2]
    c = resize_tensor(to_tensor(c), (width, height))[0].permute(1, 2, 0).numpy()
    measured = agreement(t, u, c, tiling.edges(width, step.tile[0]), tiling.edges(height, step.tile[1]),
                         block=max(32, max(width, height) // 8))
    return f"{measured.change_ratio:.3f} / {measured.tone_spread:.1f} / {measured.edge_ratio:.2f}"


def fullres_row(spec: dict) -> dict:
    """One full-resolution run (in its own process): time, estimate, peak memory, plan, seams."""
    cache = ModelCache(spec["weights"])
    width, height = spec["size"]
    photo = load_picture(ROOT / "tests" / "data" / "chelsea.jpg")
    content = Picture(np.ascontiguousarray(
        resize_tensor(to_tensor(photo.rgb), (width, height)).clamp(0, 1)[0].permute(1, 2, 0).numpy()))
    style = load_picture(ROOT / "tests" / "data" / "ihc.jpg")
    # Full resolution whatever the estimate: no time budget (the estimate is printed beside the time).
    settings = Settings.from_dict({"preset": "standard", "size": 0, "time_budget": 0, "device": spec["device"],
                                   **spec["settings"]})
    device = resolve_device(settings.device)
    cache.get(settings, device, settings.channels_last or device.type == "cuda")
    estimate = None
    rate = calibrate.rate_for(cache, settings, device, resolve_precision(settings, device))
    peak = RowPeak(device)
    result = api.stylize(content, [style], settings, cache=cache)
    if rate is not None and result.plan is not None:
        estimate = timing.estimate_seconds(result.plan, rate)
    peak_bytes, peak_kind = peak.measure()
    np.save(spec["picture"], result.picture.rgb)
    np.save(spec["picture"] + ".content.npy", content.rgb)
    last = result.plan.steps[-1] if result.plan is not None else None
    return {
        "seconds": result.seconds,
        "estimate": estimate,
        "peak": peak_bytes,
        "peak_kind": peak_kind,
        "plan": result.plan.describe() if result.plan is not None else f"{result.size}",
        "message": result.message,
        "tile": list(last.tile) if last is not None and last.tile is not None else None,
    }


def tiles_section(cache, content: Picture, style: Picture, device, size: tuple[int, int], sides: list[int],
                  repeats: int) -> None:
    """Section 4: one evaluation (J and its gradient) untiled against tiled, for each tile side below the size.

    Per tiling: time over untiled, each part's share (whole-image terms / Gram pass / gradient pass),
    the halos' area (regions over the image) and the work the estimate counts (`tiling.evaluation_work`).
    Rounds are interleaved and each time is its minimum over `repeats`; on the CPU it is the process's
    CPU time on one thread, since wall time on a shared CPU measures the other jobs.
    """
    from types import SimpleNamespace

    from nst_engine.gatys import tiled_objective, tiling

    cpu = device.type == "cpu"
    threads = torch.get_num_threads()
    if cpu:
        torch.set_num_threads(1)
    clock = time.process_time if cpu else time.perf_counter
    real_time = tiled_objective.time
    tiled_objective.time = SimpleNamespace(perf_counter=clock)  # the objective's own clock for the shares
    settings = Settings.from_dict({"device": str(device), "precision": "fp32"})
    model = cache.get(settings, device, False)[0]
    autocast = optimize.make_autocast(device, torch.float32)
    width, height = size
    image = resize_tensor(to_tensor(content.rgb), size).to(device)
    style_t = resize_tensor(to_tensor(style.rgb), scaled_size(style.size, max(size) // 2)).to(device)
    whole = optimize.Objective(model, image, [(style_t, 1.0)], settings, 3.0, autocast)
    weights = optimize.cost_weights(settings, 3.0)
    sides = [side for side in sides if side < max(size)]
    tiled = {side: tiled_objective.TiledObjective(
        model, image.cpu(), whole.style_targets, settings.content_layer, settings.style_layers, weights,
        (min(width, side), min(height, side)), autocast, device) for side in sides}
    best: dict = {}
    for _ in range(repeats):
        x = image.clone().requires_grad_(True)
        sync(device)
        started = clock()
        J, _ = whole(x)
        J.backward()
        sync(device)
        best["untiled"] = min(best.get("untiled", float("inf")), clock() - started)
        del x, J
        for side, objective in tiled.items():
            objective.seconds = dict.fromkeys(objective.seconds, 0.0)
            y = image.cpu().clone().requires_grad_(True)
            started = clock()
            objective.evaluate(y)
            spent = clock() - started
            if spent < best.get(side, (float("inf"),))[0]:
                best[side] = (spent, dict(objective.seconds))
    tiled_objective.time = real_time
    torch.set_num_threads(threads)
    what = "CPU time, 1 thread" if cpu else "wall time"
    print(f"\n## One evaluation tiled against untiled at {width}x{height}, fp32 (min of {repeats}, {what})\n")
    print(f"untiled: {best['untiled']:.2f} s\n")
    print("| tiles | time over untiled | whole image / Gram pass / gradient pass | halo area | estimate's work |")
    print("|---|---|---|---|---|")
    for side, objective in tiled.items():
        spent, parts = best[side]
        area = sum(t.pixels for t in objective.tiles) / (width * height)
        work = tiling.evaluation_work(size, (min(width, side), min(height, side))) / (width * height)
        smallest = " (smallest)" if side == tiling.MIN_TILE else ""
        shares = " / ".join(f"{v / max(spent, 1e-9):.0%}" for v in parts.values())
        print(f"| {len(objective.tiles)} of at most {side} px{smallest} | {spent / best['untiled']:.2f}x | {shares} "
              f"| {area:.2f}x | {work:.2f}x |", flush=True)


def parse_bytes(text: str) -> int:
    units = {"kib": 2**10, "mib": 2**20, "gib": 2**30, "kb": 10**3, "mb": 10**6, "gb": 10**9, "b": 1}
    lowered = text.strip().lower()
    for unit, factor in units.items():
        if lowered.endswith(unit):
            return int(float(lowered[: -len(unit)]) * factor)
    return int(lowered)


def fullres(weights: Path, device: str, size: tuple[int, int], limit: int, extra: dict,
            tile: int | None = None) -> None:
    print(f"\n## Full resolution: {size[0]}x{size[1]} content at standard (each row in its own process)\n")
    print("| row | time | estimate | peak memory | ran at | against untiled: relative difference / block tone "
          "spread / worst edge |")
    print("|---|---|---|---|---|---|")
    home = tempfile.mkdtemp(prefix="nst-bench-home-")  # one data folder: the device is calibrated once
    assert "memory_limit" in SPECS, "the memory_limit setting is gone: section 3 cannot compare tiles"
    rows = [("no memory limit", extra), (f"memory limit {limit / 2**30:.2f} GiB", {**extra, "memory_limit": limit})
            if tile is None else (f"tiles of at most {tile} px", {**extra, "tile_size": tile})]
    untiled = None
    for number, (name, row_settings) in enumerate(rows):
        spec = {"weights": str(weights), "device": device, "size": list(size), "settings": row_settings,
                "picture": str(Path(home) / f"row{number}.npy")}
        row = in_child("fullres", spec, {"NST_ENGINE_HOME": home})
        if isinstance(row, str):
            print(f"| {name} | failed: {row} | | | | |")
            continue
        estimate = f"{row['estimate']:.1f} s" if row["estimate"] is not None else "n/a"
        picture = Picture(np.load(spec["picture"]))
        untiled = picture if untiled is None else untiled
        tile = row["tile"]
        step = None if tile is None else type("Step", (), {"tile": tuple(tile)})
        seam = picture_measures(picture, untiled, Picture(np.load(spec["picture"] + ".content.npy")), step)
        print(f"| {name} | {row['seconds']:.1f} s | {estimate} | {row['peak'] / 2**30:.2f} GiB ({row['peak_kind']}) "
              f"| {row['plan']} | {seam} |", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="long side for the pipeline comparison")
    parser.add_argument("--iterations", type=int, default=100, help="iterations of the plain run (and per scale)")
    parser.add_argument("--sizes", type=int, nargs="*", default=[128, 256, 512], help="sizes to time iterations at")
    parser.add_argument("--weights", type=Path, help="a VGG-19 weights file (default: synthetic)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--skip-race", action="store_true", help="skip section 2")
    parser.add_argument("--fullres", default="2048x1365", help="content size of section 3 (WxH; 0 skips it)")
    parser.add_argument("--memory-limit", default="1GiB", help="section 3's limited row (e.g. 300MiB, 1GiB)")
    parser.add_argument("--fullres-iterations", type=int, help="section 3's final-scale iterations (default: "
                        "the preset's; fewer for a smoke run)")
    parser.add_argument("--fullres-tile", type=int, help="section 3's second row in tiles of at most this side "
                        "(tile_size) instead of under the memory limit")
    parser.add_argument("--tiles", default="1024x1024", help="size of section 4 (WxH; 0 skips it)")
    parser.add_argument("--tile-sides", type=int, nargs="*", default=[MIN_TILE, 768, 1024],
                        help="section 4's tile sides (those below the size run)")
    parser.add_argument("--tiles-repeats", type=int, default=3, help="rounds of section 4 (the minimum counts)")
    parser.add_argument("--row", help=argparse.SUPPRESS)  # one row, in a child process (in_child)
    args = parser.parse_args()
    if args.row:
        spec = json.loads(args.row)
        print(json.dumps((speed_row if spec["kind"] == "speed" else fullres_row)(spec)))
        return 0

    weights = args.weights
    if weights is None:
        from nst_engine.weights.synthetic import make_test_weights

        weights = make_test_weights(Path(tempfile.mkdtemp()), "torchvision", PHOTOS, seed=0)
    cache = ModelCache(weights)
    device = resolve_device(args.device)
    content = load_picture(ROOT / "tests" / "data" / "chelsea.jpg")
    style = load_picture(ROOT / "tests" / "data" / "ihc.jpg")
    base = Settings.from_dict({"device": args.device})

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(f"# nst-engine benchmark: {device} ({name}), torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"# weights: {weights}")
    if args.sizes:
        print("\n## Iteration speed (L-BFGS, one scale)\n")
        print("| size | precision | s/iteration | iterations/s | peak memory | TFLOP/s |")
        print("|---|---|---|---|---|---|")
    precisions = ["fp32", "bf16"] if device.type == "cuda" or cpu_has_fast_bf16() else ["fp32"]
    for size in args.sizes:
        for precision in precisions:
            channels_last = precision != "fp32" or device.type == "cuda"
            row = in_child("speed", {"weights": str(weights), "device": args.device, "size": size,
                                     "settings": {"precision": precision, "channels_last": channels_last}})
            w, h = scaled_size(content.size, size)
            if isinstance(row, str):
                print(f"| {w}x{h} | {precision} | failed: {row} | | | |", flush=True)
                continue
            seconds = row["seconds"]
            tflops = f"{vgg_flops(w, h) / seconds / 1e12:.1f}" if device.type == "cuda" else "-"
            print(f"| {w}x{h} | {precision} | {seconds:.3f} | {1 / seconds:.2f} | {row['peak'] / 2**30:.2f} GiB "
                  f"({row['peak_kind']}) | {tflops} |", flush=True)

    status = 0 if args.skip_race else race(cache, content, style, base, args.size, args.iterations, device)
    if args.tiles != "0":
        width, height = (int(v) for v in args.tiles.lower().split("x"))
        tiles_section(cache, load_picture(ROOT / "tests" / "data" / "astronaut.jpg"), style, device, (width, height),
                      args.tile_sides, args.tiles_repeats)
    if args.fullres != "0":
        width, height = (int(v) for v in args.fullres.lower().split("x"))
        extra = {"iterations": args.fullres_iterations} if args.fullres_iterations else {}
        fullres(weights, args.device, (width, height), parse_bytes(args.memory_limit), extra, args.fullres_tile)
    return status


if __name__ == "__main__":
    sys.exit(main())

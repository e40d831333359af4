"""Does the dialog's estimate hold? Estimate against actual time for the dialog's sizes, on a quiet machine
and beside other programs' work (a benchmark, not a test; issue 23 asks for within +-35 % on both).

For a layer of `--layer` (2048x1365) it runs the dialog's qualities, Draft and Standard (Standard's time
budget `--budget`, the dialog's 600 s by default; less for a quick run), first on the quiet machine, then
with `--busy` processes each keeping a core busy. Each job is planned as the engine plans it
(`api.plan_job`: the quiet device's estimate), expected as /plan and the progress window say
(`api.expectation`: times the slowdown now, times recent jobs' median ratio), run (`api.stylize`), and
what it took is kept, as the service keeps it. `--rounds` repeats the sequence, to show the correction
learning. A fresh data folder (`NST_ENGINE_HOME`) is used, so the device is measured first.

Run: `.venv/bin/python benchmarks/bench_estimates.py [--budget 120] [--busy 2] [--rounds 2] [--weights FILE]`.
Without --weights it generates synthetic VGG-19 weights from the test photographs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = sorted((ROOT / "tests" / "data").glob("*.jpg"))


def burners(count: int) -> list[subprocess.Popen]:
    """`count` processes, each keeping one core busy until killed."""
    return [subprocess.Popen([sys.executable, "-c", "while True:\n    pass"]) for _ in range(count)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layer", default="2048x1365", help="the artist's layer, WxH")
    parser.add_argument("--budget", type=float, default=600.0, help="Standard's time budget in seconds")
    parser.add_argument("--busy", type=int, default=os.cpu_count() or 1, help="busy processes in the busy rounds")
    parser.add_argument("--rounds", type=int, default=2, help="times each condition's jobs run")
    parser.add_argument("--weights", type=Path, help="a VGG-19 weights file (default: synthetic)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    os.environ["NST_ENGINE_HOME"] = tempfile.mkdtemp(prefix="nst-bench-estimates-")

    from nst_engine import api  # after NST_ENGINE_HOME: the data folder is read from it
    from nst_engine.gatys.cache import ModelCache
    from nst_engine.pictures.images import Picture, from_tensor, load_picture, resize_tensor, to_tensor
    from nst_engine.settings import Settings

    weights = args.weights
    if weights is None:
        from nst_engine.weights.synthetic import make_test_weights

        weights = make_test_weights(Path(tempfile.mkdtemp()), "torchvision", PHOTOS, seed=0)
    cache = ModelCache(weights)
    width, height = (int(side) for side in args.layer.split("x"))
    photo = load_picture(ROOT / "tests" / "data" / "astronaut.jpg")
    content = Picture(from_tensor(resize_tensor(to_tensor(photo.rgb), (width, height))))
    style = load_picture(ROOT / "tests" / "data" / "ihc.jpg")
    qualities = {
        "draft": Settings.from_dict({"preset": "draft", "device": args.device, "output": "content"}),
        "standard": Settings.from_dict({"preset": "standard", "device": args.device, "output": "content",
                                        "time_budget": args.budget}),
    }
    # The device is measured once, on the quiet machine, as the engine does before its first real job.
    api.plan_job(content.size, qualities["standard"], cache, calibrate="always")
    print(f"# layer {width}x{height}, Standard's budget {args.budget:.0f} s, {args.busy} busy processes, "
          f"{args.rounds} rounds, weights {weights.name}, {os.cpu_count()} cores")
    print("| round | machine | quality | working size | quiet estimate s | slowdown | expected s | range | actual s "
          "| actual / expected |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    worst: dict[str, float] = {}
    for condition in ("quiet", "busy"):
        load = burners(args.busy) if condition == "busy" else []
        try:
            time.sleep(1.0 if load else 0.0)  # let the burners start
            for round_number in range(1, args.rounds + 1):
                for quality, settings in qualities.items():
                    plan, quiet = api.plan_job(content.size, settings, cache, calibrate="never")
                    assert quiet is not None, "the device was measured above"
                    expected = api.expectation(quiet, settings, cache)
                    result = api.stylize(content, [style], settings, cache=cache, plan=plan)
                    expected.record(result.seconds)
                    ratio = result.seconds / expected.seconds
                    worst[condition] = max(worst.get(condition, 0.0), abs(ratio - 1.0))
                    spread = ("-" if expected.low is None or expected.high is None
                              else f"{expected.low:.0f}-{expected.high:.0f}")
                    size = f"{plan.target[0]}x{plan.target[1]}"
                    print(f"| {round_number} | {condition} | {quality} | {size} | {quiet:.1f} "
                          f"| {expected.slowdown:.2f} | {expected.seconds:.1f} | {spread} | {result.seconds:.1f} "
                          f"| {ratio:.2f} |", flush=True)
        finally:
            for process in load:
                process.kill()
                process.wait()
    for condition, error in worst.items():
        print(f"# {condition}: worst |actual / expected - 1| = {error:.0%} (goal: within 35 %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

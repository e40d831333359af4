"""Animations on this machine: seconds per frame and temporal instability, independent frames against steady
ones, for the optimisation and for a learned style, on generated sequences whose motion is known (a
photograph panned and zoomed; the same with an object crossing it).

    python benchmarks/bench_frames.py [--size 256] [--frames 8] [--iterations 15] [--threads 2]
        [--weights FILE] [--learn-steps 30] [--figure docs/images/animation.webp]

instability = mean |O_t - warp(O_{t-1})| over the pixels frame t-1 also shows, warped by the TRUE flow
(nst_engine/frames/measure.py); ratio = steady / independent (the goal: at most 0.5). Beside it, what the
instability leaves out (measure.trail, measure.drift): the steady frames' fine detail and brightness against
the independent frame's, frame by frame, and on the pixels the crossing object uncovers (the worst frame).
"reseeded" restarts every frame from noise of its own seed: flicker anyone can see, the check that the
measure sees it. The style cost ratio is each steady frame's style cost over the independent frame's
(api.judge; the goal: at most 1.2). Synthetic VGG-19 weights unless --weights: the pictures look weak, the
mechanics are the same. With --figure, the crossing sequence's independent and steady results are written
side by side as an animated WebP (and a strip of frames beside it): benchmarks/animation_figure.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nst_engine.frames import compare  # noqa: E402
from nst_engine.frames.generated import panned  # noqa: E402
from nst_engine.frames.measure import drift, instability, trail  # noqa: E402
from nst_engine.frames.temporal import Temporal  # noqa: E402
from nst_engine.gatys.cache import ModelCache  # noqa: E402
from nst_engine.pictures.images import load_picture  # noqa: E402
from nst_engine.settings import Settings  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _weights(given: Path | None) -> Path:
    if given is not None:
        return given
    from nst_engine.weights.synthetic import make_test_weights

    folder = Path(os.environ.get("NST_TEST_WEIGHTS_DIR") or tempfile.mkdtemp(prefix="nst-bench-weights-"))
    return make_test_weights(folder / "torchvision", "torchvision", sorted(DATA.glob("*.jpg")), seed=0)


def _learned_apply(weights: Path, steps: int, style) -> object:
    """A small learned style (synthetic costs), applied through ONNX Runtime as learned.api.apply_style does."""
    from nst_engine.learned.export import export
    from nst_engine.learned.options import LearnOptions
    from nst_engine.learned.runtime import open_session, stylize_picture
    from nst_engine.learned.train import learn

    work = Path(tempfile.mkdtemp(prefix="nst-bench-frames-"))
    (work / "photos").mkdir()
    for path in sorted(DATA.glob("*.jpg")):
        for copy in ("a", "b"):
            (work / "photos" / f"{copy}-{path.name}").write_bytes(path.read_bytes())
    options = LearnOptions(steps=steps, size=128, batch=4, width="small", device="cpu", checkpoint_every=10_000)
    net = learn(style, work / "photos", options, work / "ckpt.pt", weights).net
    session = open_session(export(net, work / "model.onnx").path, spinning=False)

    def apply(name, content, strength, progress=None, cancel=None, sessions=None):
        started = time.perf_counter()
        return SimpleNamespace(picture=stylize_picture(session, content, strength, 2048, progress, cancel),
                               seconds=time.perf_counter() - started)

    return apply


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="frame width (height 3/4 of it)")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--scales", type=int, default=1)
    parser.add_argument("--strength", type=float, default=1.0, help="temporal strength of the steady runs")
    parser.add_argument("--long-term", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--weights", type=Path)
    parser.add_argument("--learn-steps", type=int, default=30, help="0: no learned style")
    parser.add_argument("--no-plain", action="store_true", help="only the sequence with the crossing object")
    parser.add_argument("--no-reseeded", action="store_true", help="no run restarted from noise of its own seed")
    parser.add_argument("--figure", type=Path, help="write the crossing sequence's runs as an animated WebP")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    size = (args.size, args.size * 3 // 4)
    photo, cat, style = (load_picture(DATA / f"{n}.jpg") for n in ("coffee", "chelsea", "ihc"))
    sequences = {"crossing": panned(photo.rgb, args.frames, size, occluder=cat.rgb)}
    if not args.no_plain:
        sequences["panned"] = panned(photo.rgb, args.frames, size)
    weights = _weights(args.weights)
    cache = ModelCache(weights)
    settings = Settings.from_dict({"size": args.size, "iterations": args.iterations, "scales": args.scales,
                                   "device": "cpu", "seed": 0})
    steady = Temporal(strength=args.strength, long_term=args.long_term)
    print(f"{_cpu()}, torch {torch.__version__}, {args.threads} threads; frames {size[0]}x{size[1]} x{args.frames}, "
          f"{args.iterations} iterations x {args.scales} scale(s); temporal {steady}", flush=True)
    report: dict[str, object] = {"cpu": _cpu(), "threads": args.threads, "size": size, "frames": args.frames,
                                 "iterations": args.iterations}
    figure_runs = {}
    apply = _learned_apply(weights, args.learn_steps, style) if args.learn_steps else None
    for name, sequence in sequences.items():
        content = instability([f.rgb for f in sequence.frames], sequence.flows, sequence.masks)
        runs = {"independent": compare.gatys(sequence, style, settings, Temporal(strength=0), cache)}
        if name == "crossing" and not args.no_reseeded:
            runs["reseeded"] = compare.gatys_reseeded(sequence, style, settings, cache)
        runs["steady"] = compare.gatys(sequence, style, settings, steady, cache)
        style_ratio = max(s / i for s, i in zip(runs["steady"].style, runs["independent"].style, strict=True))
        base = runs["independent"].instability
        row = {key: {"seconds_per_frame": round(run.seconds_per_frame, 2), "instability": round(run.instability, 5),
                     "ratio": round(run.instability / base, 3)} for key, run in runs.items()}
        row["content_instability"] = round(content, 5)
        row["max_style_cost_ratio"] = round(style_ratio, 3)
        sharp, light = drift(runs["steady"].outputs, runs["independent"].outputs)
        row["steady_detail_per_frame"] = [round(x, 2) for x in sharp]  # over the independent frame's
        row["steady_brightness_per_frame"] = [round(x, 3) for x in light]  # minus the independent frame's
        if name == "crossing":
            detail, change = trail(runs["steady"].outputs, runs["independent"].outputs, sequence.revealed)
            row["uncovered_detail_worst"] = round(detail, 3)
            row["uncovered_change_worst"] = round(change, 3)
        if apply is not None:
            learned = {"independent": compare.learned(sequence, apply, "bench", Temporal(strength=0)),
                       "steady": compare.learned(sequence, apply, "bench", Temporal(strength=args.strength))}
            lbase = learned["independent"].instability
            row["learned"] = {key: {"seconds_per_frame": round(run.seconds_per_frame, 3),
                                    "instability": round(run.instability, 5),
                                    "ratio": round(run.instability / lbase, 3)} for key, run in learned.items()}
        report[name] = row
        print(f"{name}: {json.dumps(row)}", flush=True)
        if name == "crossing":
            figure_runs = {"content": [f.rgb for f in sequence.frames], "independent": runs["independent"].outputs,
                           "steady": runs["steady"].outputs}
    print(json.dumps(report))
    if args.figure is not None:
        from animation_figure import write_figure

        write_figure(figure_runs, args.figure, report)


if __name__ == "__main__":
    main()

"""`nst-engine stylize-frames`: every frame of an animation styled, steady from frame to frame (frames/).

Ctrl-C keeps the frames done: they are written (as a shorter animation) before the command exits.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from nst_engine.cli.common import fail
from nst_engine.settings import add_arguments, from_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stylize-frames", help="stylise every frame of an animation, steady from frame to frame",
        description="Stylise FRAMES (still pictures, a folder of them, or one animated GIF, WebP or multi-page "
                    "TIFF) with STYLE, each frame starting from the previous result warped by the optical flow "
                    "and held to it where the flow is reliable. With --learned NAME every argument is a frame.",
    )  # fmt: skip
    p.add_argument("inputs", type=Path, nargs="+", metavar="FRAMES... STYLE")
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="an animated .gif or .webp (the source's frame durations), or a folder for 16-bit PNGs")
    p.add_argument("--learned", metavar="NAME", help="a learned style (see `styles`) instead of a STYLE picture")
    p.add_argument("--strength", type=float, default=1.0, help="the learned style's strength, 0..1 (default 1)")
    p.add_argument("--temporal-strength", type=float, default=1.0,
                   help="how steady: 0 styles each frame on its own, 1 is the default, up to 10")
    p.add_argument("--long-term", type=int, default=0, metavar="K",
                   help="also keep to frame t-K where frame t-1 does not hold (0: off)")
    p.add_argument("--weights", type=Path, help="VGG-19 weights file")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    settings = p.add_argument_group("settings", "each one is a setting of the engine (nst_engine/settings.py)")
    p.set_defaults(run=run, setting_names=add_arguments(settings))


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from nst_engine.frames.files import ANIMATED_SUFFIXES, read_frames, write_frames
    from nst_engine.frames.sequence import FrameResult, style_sequence
    from nst_engine.frames.temporal import Temporal

    settings = from_args(args, args.setting_names)
    temporal = Temporal(args.temporal_strength, args.long_term)
    if args.output.suffix and args.output.suffix.lower() not in ANIMATED_SUFFIXES:
        return fail(f"cannot write frames to {args.output.name}: use a .gif or .webp name, or a folder.")
    if args.learned is None and len(args.inputs) < 2:
        return fail("give the frames and then the style picture (or --learned NAME for a learned style).")
    frame_paths = args.inputs if args.learned else args.inputs[:-1]
    source = read_frames(frame_paths)
    total = len(source.pictures)
    done: list[FrameResult] = []
    started = time.perf_counter()

    def on_progress(index: int, event) -> None:
        if args.quiet:
            return
        if hasattr(event, "scale"):
            where = f"scale {event.scale}/{event.scales} iteration {event.iteration}/{event.iterations}"
        else:
            where = f"tile {event.done}/{event.total}"
        sys.stderr.write(f"\rframe {index}/{total} {where}  {time.perf_counter() - started:.0f} s ")
        sys.stderr.flush()

    def on_frame(index: int, result: FrameResult) -> None:
        done.append(result)

    runner = _learned(args, temporal, on_progress) if args.learned else _gatys(args, settings, temporal, total,
                                                                               source.pictures[0].size, on_progress)
    try:
        style_sequence(source.pictures, runner, temporal, on_frame)
    except KeyboardInterrupt:
        if not done:
            raise
        _say(f"\nInterrupted: writing the {len(done)} frames done of {total}.")
    if not args.quiet:
        sys.stderr.write("\n")
    written = write_frames([d.picture for d in done], source.durations[:len(done)], args.output)
    seconds = time.perf_counter() - started
    _say(f"Wrote {len(done)} of {total} frames to {written[0] if len(written) == 1 else args.output} in "
         f"{seconds:.1f} s ({seconds / max(1, len(done)):.1f} s a frame).")
    return 0 if len(done) == total else 130


def _gatys(args: argparse.Namespace, settings, temporal, total: int, size: tuple[int, int], on_progress):
    from nst_engine.api import expectation, plan_job, stylize
    from nst_engine.device import device_name, resolve_device
    from nst_engine.frames.runners import gatys_runner
    from nst_engine.gatys.cache import ModelCache
    from nst_engine.pictures.images import load_picture

    style = load_picture(args.inputs[-1])
    cache = ModelCache(args.weights)
    plan, seconds = plan_job(size, settings, cache, notify=None if args.quiet else _say)
    expected = None if seconds is None else expectation(seconds * total, settings, cache)
    if not args.quiet:
        _say(_plan_line(plan, total, None if expected is None else expected.seconds,
                        device_name(resolve_device(settings.device))))
    return gatys_runner(stylize, [style], settings, temporal, cache, plan, on_progress)


def _learned(args: argparse.Namespace, temporal, on_progress):
    from nst_engine.frames.runners import learned_runner
    from nst_engine.learned.api import apply_style

    if not 0.0 <= args.strength <= 1.0:
        from nst_engine.errors import SettingsError

        raise SettingsError(f"--strength must be between 0 and 1, not {args.strength:g}.")
    return learned_runner(apply_style, args.learned, args.strength, temporal, on_progress)


def _plan_line(plan, frames: int, seconds: float | None, device: str) -> str:
    """E.g. "Plan: 12 frames, each 384x288 in 2 scales (...), 150 iterations; about 6 min on ..."."""
    from nst_engine.contract import estimate_text

    line = (f"Plan: {frames} frames, each {plan.target[0]}x{plan.target[1]} "
            f"({', '.join(step.describe() for step in plan.steps)}), {plan.total_iterations} iterations")
    line += f"; {estimate_text(seconds)} for all on {device}." if seconds is not None else f" on {device}."
    return line + (f"\n{plan.message}" if plan.message else "")
